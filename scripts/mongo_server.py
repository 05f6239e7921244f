#!/usr/bin/python3
"""A MongoDB wire-protocol server over mongomock, for cachier's tests.

Debian 12 has no MongoDB server. This one speaks the protocol that libmongoc uses (OP_MSG, and
OP_QUERY for the first handshake) on 127.0.0.1 and runs each command against an in-memory
mongomock database, under one lock, so that every command is atomic as a standalone mongod's
single-document operations are: unique indexes are enforced (E11000), findAndModify with upsert
claims a key once, documents over 16 MiB are refused (code 10334), and $changeStream answers as a
standalone mongod does (code 40573: change streams need a replica set).

With --replica-set NAME it presents itself as the primary of a one-member replica set and serves
change streams on collections: insert, update and delete events with the updated and removed field
names, the current document on request (fullDocument: updateLookup), resume tokens, $project
exclusions after the $changeStream stage, and getMore waiting up to its maxTimeMS for events.
A TTL monitor removes documents past an index's expireAfterSeconds every --ttl-monitor seconds
(60, as mongod's).

What it does not do (and what only a real MongoDB shows): replication, elections and failover,
authentication, TLS, retryable writes, change stream events of other kinds (drop, rename,
invalidate), and the timing of a real TTL monitor under load.

  /usr/bin/python3 scripts/mongo_server.py --port PORT [--log FILE] [--replica-set NAME]
                                           [--ttl-monitor SECONDS]
Logs one line per command to --log (the command counts of the benchmarks read it).
"""

import argparse
import collections
import datetime
import itertools
import socketserver
import struct
import sys
import threading
import time

import bson
import mongomock
from mongomock.collection import ReturnDocument

OP_REPLY = 1
OP_QUERY = 2004
OP_MSG = 2013
MAX_BSON_SIZE = 16 * 1024 * 1024
MAX_MESSAGE_SIZE = 48_000_000
BATCH_BYTES = 8 * 1024 * 1024

# Fields drivers add to every command; they mean nothing to this server.
GENERIC_FIELDS = {"$db", "lsid", "$clusterTime", "$readPreference", "txnNumber", "writeConcern",
                  "readConcern", "apiVersion", "apiStrict", "apiDeprecationErrors", "maxTimeMS",
                  "comment", "bypassDocumentValidation", "ordered", "$query"}


class CommandError(Exception):
    def __init__(self, code, code_name, message):
        super().__init__(message)
        self.code = code
        self.code_name = code_name


def duplicate_key(namespace, error):
    return {"code": 11000, "errmsg": f"E11000 duplicate key error collection: {namespace} ({error})"}


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def exclude_path(document, path):
    """Removes a dotted path from nested documents, as a $project exclusion does."""
    head, _, rest = path.partition(".")
    if not isinstance(document, dict) or head not in document:
        return
    if rest:
        exclude_path(document[head], rest)
    else:
        del document[head]


class ChangeStream:
    """An open change stream cursor: where it reads in the server's event log, and how."""

    def __init__(self, namespace, position, full_document, exclusions):
        self.namespace = namespace
        self.position = position
        self.full_document = full_document
        self.exclusions = exclusions


def check_size(document):
    if len(bson.encode(document)) > MAX_BSON_SIZE:
        raise CommandError(10334, "BSONObjectTooLarge", "object to insert too large")


class Server:
    """The databases, the open cursors, and the one lock every command takes."""

    def __init__(self, log, replica_set, address):
        self.client = mongomock.MongoClient()
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)  # a change event was logged
        self.cursors = {}
        self.cursor_ids = itertools.count(1)
        self.connection_ids = itertools.count(1)
        self.log = log
        self.replica_set = replica_set
        self.address = address
        # The change events (sequence number, namespace, event), kept while any stream was opened.
        self.events = collections.deque(maxlen=10000)
        # Numbered from the clock, so that a resume token of an earlier run of the server (a
        # restart) points before every event of this one, as a real replica set's oplog would.
        self.event_sequence = itertools.count(time.time_ns() // 1000)
        self.streams_opened = False

    def run(self, db_name, command):
        name = next(iter(command))
        if self.log:
            self.log.write(f"{name}\n")
            self.log.flush()
        handler = getattr(self, "cmd_" + name.lower(), None)
        if handler is None:
            raise CommandError(59, "CommandNotFound", f"no such command: '{name}'")
        with self.lock:
            reply = handler(self.client[db_name], command)
        reply.setdefault("ok", 1.0)
        return reply

    # Handshake and administration.
    def cmd_hello(self, db, command):
        reply = {"helloOk": True, "ismaster": True, "isWritablePrimary": True,
                 "maxBsonObjectSize": MAX_BSON_SIZE, "maxMessageSizeBytes": MAX_MESSAGE_SIZE,
                 "maxWriteBatchSize": 100000, "localTime": now_utc(),
                 "logicalSessionTimeoutMinutes": 30, "connectionId": next(self.connection_ids),
                 "minWireVersion": 0, "maxWireVersion": 13, "readOnly": False}
        if self.replica_set:
            reply.update({"setName": self.replica_set, "setVersion": 1, "hosts": [self.address],
                          "primary": self.address, "me": self.address, "secondary": False})
        return reply

    cmd_ismaster = cmd_hello

    def cmd_ping(self, db, command):
        return {}

    def cmd_buildinfo(self, db, command):
        return {"version": "5.0.0", "versionArray": [5, 0, 0, 0], "maxBsonObjectSize": MAX_BSON_SIZE}

    def cmd_endsessions(self, db, command):
        return {}

    def cmd_killcursors(self, db, command):
        killed = [c for c in command.get("cursors", []) if self.cursors.pop(c, None) is not None]
        return {"cursorsKilled": killed, "cursorsNotFound": [], "cursorsAlive": [], "cursorsUnknown": []}

    def cmd_drop(self, db, command):
        db.drop_collection(command["drop"])
        return {}

    def cmd_dropdatabase(self, db, command):
        self.client.drop_database(db.name)
        return {}

    # Reads.
    def cursor(self, namespace, documents, batch_size, first=True):
        batch, size = [], 0
        while documents and (batch_size is None or len(batch) < batch_size):
            encoded = len(bson.encode(documents[0]))
            if batch and size + encoded > BATCH_BYTES:
                break
            batch.append(documents.pop(0))
            size += encoded
        cursor_id = 0
        if documents:
            cursor_id = next(self.cursor_ids)
            self.cursors[cursor_id] = (namespace, documents)
        return {"cursor": {"id": bson.int64.Int64(cursor_id), "ns": namespace,
                           "firstBatch" if first else "nextBatch": batch}}

    def cmd_find(self, db, command):
        collection = db[command["find"]]
        found = collection.find(command.get("filter", {}), command.get("projection"))
        if command.get("sort"):
            found = found.sort(list(command["sort"].items()))
        if command.get("skip"):
            found = found.skip(command["skip"])
        limit = command.get("limit", 0)
        if limit:
            found = found.limit(abs(limit))
        documents = list(found)
        batch_size = 1 if command.get("singleBatch") and limit == 1 else command.get("batchSize")
        return self.cursor(f"{db.name}.{collection.name}", documents, batch_size)

    def cmd_getmore(self, db, command):
        cursor_id = command["getMore"]
        if isinstance(self.cursors.get(cursor_id), ChangeStream):
            return self.next_changes(db, cursor_id, self.cursors[cursor_id], command.get("maxTimeMS", 1000))
        namespace, documents = self.cursors.pop(cursor_id, (None, None))
        if namespace is None:
            raise CommandError(43, "CursorNotFound", f"cursor id {cursor_id} not found")
        return self.cursor(namespace, documents, command.get("batchSize"), first=False)

    def cmd_count(self, db, command):
        return {"n": db[command["count"]].count_documents(command.get("query") or {})}

    def cmd_aggregate(self, db, command):
        pipeline = command.get("pipeline", [])
        if pipeline and "$changeStream" in pipeline[0]:
            if not self.replica_set:
                raise CommandError(40573, "Location40573", "The $changeStream stage is only supported on replica sets")
            return self.open_changes(db, command["aggregate"], pipeline)
        collection = db[command["aggregate"]]
        documents = list(collection.aggregate(pipeline))
        return self.cursor(f"{db.name}.{collection.name}", documents, command.get("cursor", {}).get("batchSize"))

    # Change streams.
    def open_changes(self, db, collection_name, pipeline):
        stage = pipeline[0]["$changeStream"]
        exclusions = []
        for later in pipeline[1:]:
            projection = later.get("$project")
            if projection is None or any(v not in (0, False) for v in projection.values()):
                raise CommandError(40324, "Location40324", f"this test server supports only $project exclusions "
                                                           f"after $changeStream, not {later}")
            exclusions += list(projection)
        position = next(self.event_sequence)  # events from now on
        token = stage.get("resumeAfter") or stage.get("startAfter")
        if token is not None:
            position = int(token["_data"], 16) + 1
            if self.events and self.events[0][0] > position:
                raise CommandError(286, "ChangeStreamHistoryLost", "the resume point is no longer in the event log")
        self.streams_opened = True
        namespace = f"{db.name}.{collection_name}"
        cursor_id = next(self.cursor_ids)
        self.cursors[cursor_id] = ChangeStream(namespace, position, stage.get("fullDocument", "default"), exclusions)
        return {"cursor": {"id": bson.int64.Int64(cursor_id), "ns": namespace, "firstBatch": [],
                           "postBatchResumeToken": self.resume_token(position - 1)}}

    @staticmethod
    def resume_token(sequence):
        return {"_data": f"{sequence:016x}"}

    def next_changes(self, db, cursor_id, stream, max_time_ms):
        deadline = time.monotonic() + max_time_ms / 1000
        while True:
            batch = [(sequence, event) for sequence, namespace, event in self.events
                     if sequence >= stream.position and namespace == stream.namespace]
            left = deadline - time.monotonic()
            if batch or left <= 0 or cursor_id not in self.cursors:
                break
            self.changed.wait(left)  # lets other commands run meanwhile
        documents = []
        for sequence, event in batch:
            document = dict(event)
            document["_id"] = self.resume_token(sequence)
            if stream.full_document == "updateLookup" and event["operationType"] == "update":
                database, _, name = stream.namespace.partition(".")
                document["fullDocument"] = self.client[database][name].find_one(event["documentKey"])
            for path in stream.exclusions:
                exclude_path(document, path)
            documents.append(document)
        last = batch[-1][0] if batch else next(self.event_sequence) - 1
        stream.position = last + 1
        return {"cursor": {"id": bson.int64.Int64(cursor_id), "ns": stream.namespace, "nextBatch": documents,
                           "postBatchResumeToken": self.resume_token(last)}}

    def log_change(self, collection, kind, document_id, before=None, after=None):
        """Logs one change of a document for the change streams (a no-op until one was opened)."""
        if not self.streams_opened:
            return
        database, _, name = collection.full_name.partition(".")
        event = {"operationType": kind, "ns": {"db": database, "coll": name},
                 "documentKey": {"_id": document_id}, "clusterTime": bson.timestamp.Timestamp(int(time.time()), 1)}
        if kind == "insert":
            event["fullDocument"] = after
        elif kind == "update":
            event["updateDescription"] = {
                "updatedFields": {k: v for k, v in after.items() if k not in before or before[k] != v},
                "removedFields": [k for k in before if k not in after]}
        self.events.append((next(self.event_sequence), collection.full_name, event))
        self.changed.notify_all()

    def changing(self, collection, query, many, change):
        """Runs `change` (a write) and logs what it did to the documents `query` matched."""
        if not self.streams_opened:
            return change()
        before = {d["_id"]: d for d in (collection.find(query) if many else
                                        filter(None, [collection.find_one(query)]))}
        result = change()
        for document_id, old in before.items():
            new = collection.find_one({"_id": document_id})
            if new is None:
                self.log_change(collection, "delete", document_id)
            elif new != old:
                self.log_change(collection, "update", document_id, old, new)
        return result

    def expire_documents(self):
        """The TTL monitor's pass: removes the documents past their TTL index's expireAfterSeconds."""
        with self.lock:
            for database_name in self.client.list_database_names():
                database = self.client[database_name]
                for name in database.list_collection_names():
                    collection = database[name]
                    for info in collection.index_information().values():
                        if "expireAfterSeconds" not in info or len(info["key"]) != 1:
                            continue
                        field = info["key"][0][0]
                        limit = now_utc() - datetime.timedelta(seconds=info["expireAfterSeconds"])
                        query = {field: {"$lt": limit}}
                        self.changing(collection, query, True, lambda c=collection, q=query: c.delete_many(q))

    # Writes.
    def cmd_insert(self, db, command):
        collection = db[command["insert"]]
        written, errors = 0, []
        for index, document in enumerate(command.get("documents", [])):
            check_size(document)
            try:
                collection.insert_one(document)
                written += 1
                self.log_change(collection, "insert", document["_id"], after=document)
            except mongomock.DuplicateKeyError as error:
                errors.append(dict(index=index, **duplicate_key(f"{db.name}.{collection.name}", error)))
                break
        reply = {"n": written}
        if errors:
            reply["writeErrors"] = errors
        return reply

    def cmd_update(self, db, command):
        collection = db[command["update"]]
        matched, modified, upserted, errors = 0, 0, [], []
        for index, update in enumerate(command.get("updates", [])):
            check_size(update.get("u", {}))
            apply = collection.update_many if update.get("multi") else collection.update_one
            try:
                result = self.changing(collection, update["q"], bool(update.get("multi")),
                                       lambda q=update["q"], u=update: apply(q, u["u"], upsert=bool(u.get("upsert"))))
            except mongomock.DuplicateKeyError as error:
                errors.append(dict(index=index, **duplicate_key(f"{db.name}.{collection.name}", error)))
                break
            matched += result.matched_count
            modified += result.modified_count
            if result.upserted_id is not None:
                upserted.append({"index": index, "_id": result.upserted_id})
                self.log_change(collection, "insert", result.upserted_id,
                                after=collection.find_one({"_id": result.upserted_id}))
                matched += 1
        reply = {"n": matched, "nModified": modified}
        if upserted:
            reply["upserted"] = upserted
        if errors:
            reply["writeErrors"] = errors
        return reply

    def cmd_delete(self, db, command):
        collection = db[command["delete"]]
        removed = 0
        for delete in command.get("deletes", []):
            one = delete.get("limit", 0) == 1
            apply = collection.delete_one if one else collection.delete_many
            removed += self.changing(collection, delete["q"], not one, lambda q=delete["q"]: apply(q)).deleted_count
        return {"n": removed}

    def cmd_findandmodify(self, db, command):
        collection = db[command["findAndModify"]]
        query = command.get("query", {})
        sort = list(command["sort"].items()) if command.get("sort") else None
        fields = command.get("fields")
        if command.get("remove"):
            value = self.changing(collection, query, False,
                                  lambda: collection.find_one_and_delete(query, projection=fields, sort=sort))
            return {"lastErrorObject": {"n": 0 if value is None else 1}, "value": value}
        update = command.get("update", {})
        check_size(update)
        upsert = bool(command.get("upsert"))
        existed = collection.count_documents(query) > 0
        try:
            value = self.changing(collection, query, False, lambda: collection.find_one_and_update(
                query, update, projection=fields, sort=sort, upsert=upsert,
                return_document=ReturnDocument.AFTER if command.get("new")
                else ReturnDocument.BEFORE))
        except mongomock.DuplicateKeyError as error:
            raise CommandError(11000, "DuplicateKey",
                               duplicate_key(f"{db.name}.{collection.name}", error)["errmsg"]) from error
        last = {"n": 1 if existed or upsert else 0, "updatedExisting": existed}
        if upsert and not existed:
            created = value if value is not None else collection.find_one(query)
            if created is not None:
                last["upserted"] = created.get("_id")
                self.log_change(collection, "insert", created.get("_id"),
                                after=collection.find_one({"_id": created.get("_id")}))
        return {"lastErrorObject": last, "value": value}

    # Indexes.
    def cmd_createindexes(self, db, command):
        collection = db[command["createIndexes"]]
        before = len(collection.index_information())
        for index in command.get("indexes", []):
            options = {"name": index["name"]} if "name" in index else {}
            if index.get("unique"):
                options["unique"] = True
            if "expireAfterSeconds" in index:
                options["expireAfterSeconds"] = index["expireAfterSeconds"]
            try:
                collection.create_index(list(index["key"].items()), **options)
            except mongomock.DuplicateKeyError as error:
                raise CommandError(11000, "DuplicateKey", str(error)) from error
        return {"numIndexesBefore": before, "numIndexesAfter": len(collection.index_information()),
                "createdCollectionAutomatically": before == 0}

    def cmd_listindexes(self, db, command):
        collection = db[command["listIndexes"]]
        specs = []
        for name, info in collection.index_information().items():
            spec = {"v": 2, "key": dict(info["key"]), "name": name}
            for option in ("unique", "expireAfterSeconds"):
                if option in info:
                    spec[option] = info[option]
            specs.append(spec)
        return self.cursor(f"{db.name}.{collection.name}", specs, None)


def read_cstring(data, position):
    end = data.index(b"\0", position)
    return data[position:end].decode(), end + 1


class Connection(socketserver.BaseRequestHandler):
    """One client connection: messages in, replies out, until the client goes."""

    def handle(self):
        request_ids = itertools.count(1)
        while True:
            header = self.receive(16)
            if header is None:
                return
            length, request_id, _, op_code = struct.unpack("<iiii", header)
            if length < 16 or length > MAX_MESSAGE_SIZE:
                return
            body = self.receive(length - 16)
            if body is None:
                return
            if op_code == OP_MSG:
                reply, more_to_come = self.on_message(body)
                if not more_to_come:
                    self.send(OP_MSG, next(request_ids), request_id, struct.pack("<I", 0) + b"\0" + bson.encode(reply))
            elif op_code == OP_QUERY:
                reply = self.on_query(body)
                self.send(OP_REPLY, next(request_ids), request_id,
                          struct.pack("<iqii", 0, 0, 0, 1) + bson.encode(reply))
            else:
                return

    def receive(self, size):
        chunks, left = [], size
        while left > 0:
            chunk = self.request.recv(min(left, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def send(self, op_code, request_id, response_to, payload):
        self.request.sendall(struct.pack("<iiii", 16 + len(payload), request_id, response_to, op_code) + payload)

    def on_message(self, body):
        (flags,) = struct.unpack_from("<I", body, 0)
        end = len(body) - (4 if flags & 1 else 0)  # a CRC-32C checksum may close the message
        position, command = 4, None
        sequences = {}
        while position < end:
            kind = body[position]
            position += 1
            (size,) = struct.unpack_from("<i", body, position)
            if kind == 0:
                command = bson.decode(body[position:position + size])
                position += size
            else:
                identifier, documents_at = read_cstring(body, position + 4)
                sequences[identifier] = bson.decode_all(body[documents_at:position + size])
                position += size
        command.update(sequences)
        return self.execute(command.get("$db", "admin"), command), bool(flags & 2)

    def on_query(self, body):
        _, = struct.unpack_from("<i", body, 0)
        namespace, position = read_cstring(body, 4)
        (size,) = struct.unpack_from("<i", body, position + 8)
        query = bson.decode(body[position + 8:position + 8 + size])
        if "$query" in query:
            query = query["$query"]
        return self.execute(namespace.split(".")[0], query)

    def execute(self, db_name, command):
        # maxTimeMS stays for getMore: a change stream's getMore waits that long for events.
        keep = {next(iter(command))} | ({"maxTimeMS"} if next(iter(command)) == "getMore" else set())
        command = {k: v for k, v in command.items() if k not in GENERIC_FIELDS or k in keep}
        try:
            return self.server.state.run(db_name, command)
        except CommandError as error:
            return {"ok": 0.0, "errmsg": str(error), "code": error.code, "codeName": error.code_name}
        except Exception as error:  # a bug here must not look like a dead server
            return {"ok": 0.0, "errmsg": f"{type(error).__name__}: {error}", "code": 1, "codeName": "InternalError"}


class ThreadingServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", default=None)
    parser.add_argument("--replica-set", default=None)
    parser.add_argument("--ttl-monitor", type=float, default=60.0)
    options = parser.parse_args()
    log = open(options.log, "a", encoding="utf-8") if options.log else None
    with ThreadingServer(("127.0.0.1", options.port), Connection) as server:
        server.state = Server(log, options.replica_set, f"127.0.0.1:{options.port}")

        def ttl_monitor():
            while True:
                time.sleep(options.ttl_monitor)
                server.state.expire_documents()

        threading.Thread(target=ttl_monitor, daemon=True).start()
        print(f"listening on 127.0.0.1:{options.port}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
