"""Time updates by `_id` sent as `$set` of every field against the same updates sent as whole documents.

Run against a MongoDB-protocol server, for example the local stack's FerretDB:

    .venv/bin/python deploy/local/benchmarks/ferretdb_updates.py --uri mongodb://127.0.0.1:27017/

It fills a scratch database with engineer-like documents of about 3.3 KB: four qualifications, four
certificates and fourteen event ids. Then it sends rounds of `update` commands of 64 statements,
alternating the two forms, and prints the milliseconds per update of each round (client time
included). At the end it checks that both forms left the expected documents and drops the database.
"""

import argparse
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import bson
from pymongo import MongoClient

STATEMENTS = 64


def engineer(index: int) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    qualifications = [
        {
            "qualification_id": uuid.uuid4().hex, "qualification_type": f"type_{kind}",
            "required_certificates": ["refrigeration_ac"], "status": "pending", "applied_at": now,
            "granted_at": None, "valid_until": None, "limiting_certificate_type": None,
            "limiting_certificate_id": None, "passed_score": 92,
            "exam_results": [{"attempt_id": uuid.uuid4().hex, "score": 92, "passed": True, "finished_at": now}],
            "withdrawn_at": None, "lapsed_at": None, "lapse_reason": None, "validity_changed_at": None,
        }
        for kind in range(4)
    ]
    certificates = [
        {"certificate_id": uuid.uuid4().hex, "version": 1, "certificate_type": f"type_{kind}", "expires_on": "2030-01-01"}
        for kind in range(4)
    ]
    return {
        "_id": f"eng-{index:06d}", "revision": 1, "provider_id": uuid.uuid4().hex, "outlet_id": uuid.uuid4().hex,
        "region_id": uuid.uuid4().hex, "name": "张伟", "authenticated": True, "certificates": certificates,
        "qualifications": qualifications, "next_lapse_check": None,
        "processed_events": [str(uuid.uuid4()) for _ in range(14)], "outbox": [], "outbox_pending": False,
    }


def statement(document: dict[str, Any], form: str) -> dict[str, Any]:
    """Bump the revision and add an event id, as a save does, in the given form."""
    event_id = str(uuid.uuid4())
    document["revision"] += 1
    if form == "set":
        fields = {key: value for key, value in document.items() if key not in ("_id", "processed_events")}
        update: dict[str, Any] = {"$set": fields, "$push": {"processed_events": event_id}}
    else:
        update = {key: value for key, value in document.items() if key != "_id"}
        update["processed_events"] = [*document["processed_events"], event_id]
    document["processed_events"] = [*document["processed_events"], event_id]
    return {"q": {"_id": document["_id"]}, "u": update}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uri", default="mongodb://127.0.0.1:27017/")
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=4, help="rounds per form, alternating")
    args = parser.parse_args()

    client = MongoClient(args.uri, tz_aware=True)
    database = client[f"bench_updates_{uuid.uuid4().hex[:8]}"]
    collection = database["engineers"]
    try:
        documents = [engineer(index) for index in range(args.documents)]
        collection.insert_many(documents)
        print(f"{args.documents} documents of {len(bson.encode(documents[0]))} bytes, {STATEMENTS} updates per command")
        for round_number in range(args.rounds * 2):
            form = "set" if round_number % 2 == 0 else "whole document"
            started = time.perf_counter()
            for start in range(0, len(documents), STATEMENTS):
                statements = [statement(document, form) for document in documents[start : start + STATEMENTS]]
                reply = database.command({"update": collection.name, "updates": statements, "ordered": True})
                if reply.get("n") != len(statements):
                    matched = reply.get("n")
                    raise SystemExit(f"failed: an update command matched {matched} of {len(statements)} documents, reply {reply}")
            seconds = time.perf_counter() - started
            print(f"{form:>14}: {seconds * 1000 / len(documents):.3f} ms per update")
        expected = {document["_id"]: document for document in documents}
        for stored in collection.find({}):
            if stored != expected[stored["_id"]]:
                raise SystemExit(f"failed: document {stored['_id']} differs from what the updates should have left")
        print("every document is as the updates should have left it")
    finally:
        client.drop_database(database.name)
        client.close()


if __name__ == "__main__":
    main()
