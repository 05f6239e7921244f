#!/usr/bin/python3
"""A MongoDB wire-protocol server over mongomock, for cachier's tests.

Debian 12 has no MongoDB server. This one speaks the protocol that libmongoc uses (OP_MSG, and
OP_QUERY for the first handshake) on 127.0.0.1 and runs each command against an in-memory
mongomock database, under one lock, so that every command is atomic as a standalone mongod's
single-document operations are: unique indexes are enforced (E11000), findAndModify with upsert
claims a key once, documents over 16 MiB are refused (code 10334), and $changeStream answers as a
standalone mongod does (code 40573: change streams need a replica set).

What it does not do (and what only a real MongoDB shows): replica sets and change streams,
authentication, TLS, TTL indexes removing documents, retryable writes after a failover.

  /usr/bin/python3 scripts/mongo_server.py --port PORT [--log FILE]
Logs one line per command to --log (the command counts of the benchmarks read it).
"""

import argparse
import datetime
import itertools
import socketserver
import struct
import sys
import threading

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


def check_size(document):
    if len(bson.encode(document)) > MAX_BSON_SIZE:
        raise CommandError(10334, "BSONObjectTooLarge", "object to insert too large")


class Server:
    """The databases, the open cursors, and the one lock every command takes."""

    def __init__(self, log):
        self.client = mongomock.MongoClient()
        self.lock = threading.Lock()
        self.cursors = {}
        self.cursor_ids = itertools.count(1)
        self.connection_ids = itertools.count(1)
        self.log = log

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
        return {"helloOk": True, "ismaster": True, "isWritablePrimary": True,
                "maxBsonObjectSize": MAX_BSON_SIZE, "maxMessageSizeBytes": MAX_MESSAGE_SIZE,
                "maxWriteBatchSize": 100000, "localTime": datetime.datetime.utcnow(),
                "logicalSessionTimeoutMinutes": 30, "connectionId": next(self.connection_ids),
                "minWireVersion": 0, "maxWireVersion": 13, "readOnly": False}

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
        namespace, documents = self.cursors.pop(cursor_id, (None, None))
        if namespace is None:
            raise CommandError(43, "CursorNotFound", f"cursor id {cursor_id} not found")
        return self.cursor(namespace, documents, command.get("batchSize"), first=False)

    def cmd_count(self, db, command):
        return {"n": db[command["count"]].count_documents(command.get("query") or {})}

    def cmd_aggregate(self, db, command):
        pipeline = command.get("pipeline", [])
        if pipeline and "$changeStream" in pipeline[0]:
            raise CommandError(40573, "Location40573", "The $changeStream stage is only supported on replica sets")
        collection = db[command["aggregate"]]
        documents = list(collection.aggregate(pipeline))
        return self.cursor(f"{db.name}.{collection.name}", documents, command.get("cursor", {}).get("batchSize"))

    # Writes.
    def cmd_insert(self, db, command):
        collection = db[command["insert"]]
        written, errors = 0, []
        for index, document in enumerate(command.get("documents", [])):
            check_size(document)
            try:
                collection.insert_one(document)
                written += 1
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
                result = apply(update["q"], update["u"], upsert=bool(update.get("upsert")))
            except mongomock.DuplicateKeyError as error:
                errors.append(dict(index=index, **duplicate_key(f"{db.name}.{collection.name}", error)))
                break
            matched += result.matched_count
            modified += result.modified_count
            if result.upserted_id is not None:
                upserted.append({"index": index, "_id": result.upserted_id})
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
            if delete.get("limit", 0) == 1:
                removed += collection.delete_one(delete["q"]).deleted_count
            else:
                removed += collection.delete_many(delete["q"]).deleted_count
        return {"n": removed}

    def cmd_findandmodify(self, db, command):
        collection = db[command["findAndModify"]]
        query = command.get("query", {})
        sort = list(command["sort"].items()) if command.get("sort") else None
        fields = command.get("fields")
        if command.get("remove"):
            value = collection.find_one_and_delete(query, projection=fields, sort=sort)
            return {"lastErrorObject": {"n": 0 if value is None else 1}, "value": value}
        update = command.get("update", {})
        check_size(update)
        upsert = bool(command.get("upsert"))
        existed = collection.count_documents(query) > 0
        try:
            value = collection.find_one_and_update(
                query, update, projection=fields, sort=sort, upsert=upsert,
                return_document=ReturnDocument.AFTER if command.get("new")
                else ReturnDocument.BEFORE)
        except mongomock.DuplicateKeyError as error:
            raise CommandError(11000, "DuplicateKey",
                               duplicate_key(f"{db.name}.{collection.name}", error)["errmsg"]) from error
        last = {"n": 1 if existed or upsert else 0, "updatedExisting": existed}
        if upsert and not existed:
            created = value if value is not None else collection.find_one(query)
            if created is not None:
                last["upserted"] = created.get("_id")
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
        command = {k: v for k, v in command.items() if k not in GENERIC_FIELDS or k == next(iter(command))}
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
    options = parser.parse_args()
    log = open(options.log, "a", encoding="utf-8") if options.log else None
    with ThreadingServer(("127.0.0.1", options.port), Connection) as server:
        server.state = Server(log)
        print(f"listening on 127.0.0.1:{options.port}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
