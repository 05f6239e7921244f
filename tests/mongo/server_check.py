#!/usr/bin/python3
"""Checks that the project's MongoDB test server (scripts/mongo_server.py) behaves as the MongoDB
backend needs a standalone mongod to: a unique index enforced (E11000), one claim winner among
threads racing on a new key with findAndModify + upsert, an expired lease taken over in place,
cursors continued with getMore, the server's time in hello, and $changeStream refused as a
standalone server refuses it (40573). Run against $CACHIER_MONGO_URL (scripts/mongo-server.sh run).
"""

import datetime
import os
import sys
import threading

import pymongo
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, OperationFailure

failures = []


def check(condition, what):
    print(("ok    " if condition else "FAILED ") + what)
    if not condition:
        failures.append(what)


def claim(collection, key, owner, now, lease_s=10):
    """The claim the backend makes: upsert matching only a free or expired lease; True when won."""
    try:
        collection.find_one_and_update(
            {"function": b"f\0x", "key": key, "$or": [{"owner": None}, {"lease": {"$lt": now}}]},
            {"$set": {"owner": owner, "lease": now + datetime.timedelta(seconds=lease_s)}},
            upsert=True, return_document=ReturnDocument.AFTER)
        return True
    except DuplicateKeyError:
        return False


def main():
    client = pymongo.MongoClient(os.environ["CACHIER_MONGO_URL"], serverSelectionTimeoutMS=3000)
    collection = client.cachier_check.entries
    collection.create_index([("function", 1), ("key", 1)], unique=True)

    collection.insert_one({"function": b"f", "key": "a", "v": b"1"})
    try:
        collection.insert_one({"function": b"f", "key": "a", "v": b"2"})
        check(False, "a second document of one (function, key) is refused with E11000")
    except DuplicateKeyError:
        check(True, "a second document of one (function, key) is refused with E11000")

    now = datetime.datetime.utcnow()
    rounds_with_one_winner = 0
    for round_number in range(50):
        winners = []
        barrier = threading.Barrier(8)

        def racer(owner):
            barrier.wait()
            if claim(collection, f"race{round_number}", owner, now):
                winners.append(owner)

        threads = [threading.Thread(target=racer, args=(f"t{i}",)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rounds_with_one_winner += len(winners) == 1
    check(rounds_with_one_winner == 50, f"8 threads racing on a new key: one winner in {rounds_with_one_winner} of 50 rounds")

    check(not claim(collection, "race0", "late", now), "a live lease is not taken")
    later = now + datetime.timedelta(minutes=1)
    check(claim(collection, "race0", "late", later), "an expired lease is taken over")
    check(collection.count_documents({"key": "race0"}) == 1, "taking a lease over keeps one document")

    collection.insert_many([{"function": b"m", "key": str(i)} for i in range(250)])
    check(len(list(collection.find({"function": b"m"}, batch_size=7))) == 250, "a cursor continues with getMore")

    local_time = client.admin.command("hello")["localTime"]
    check(abs((local_time - datetime.datetime.utcnow()).total_seconds()) < 5, "hello reports the server's time")

    try:
        with collection.watch():
            pass
        check(False, "$changeStream is refused as by a standalone server (40573)")
    except OperationFailure as error:
        check(error.code == 40573, "$changeStream is refused as by a standalone server (40573)")

    big = b"x" * (15 * 1024 * 1024)
    collection.insert_one({"function": b"big", "key": "k", "v": big})
    check(len(collection.find_one({"function": b"big"})["v"]) == len(big), "a 15 MiB value round-trips")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
