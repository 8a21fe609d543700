"""A Python producer for jobwire's queues: writes envelopes by hand.

    python3 produce.py sqlite PATH
    python3 produce.py postgres URL      # needs psycopg2

The README's Python snippet is `enqueue` below; the rest is the test's.
"""
import json
import sys
import time
import uuid


def envelope(job, version, args, **extra):
    """A jobwire envelope: the name and version first, then the arguments."""
    payload = {"job": job, "version": version, "args": args,
               "meta": {"id": str(uuid.uuid4()),
                        "enqueued_at": int(time.time() * 1000)}}
    payload.update(extra)
    return json.dumps(payload).encode("utf-8")


def enqueue_sqlite(db, payload, queue="default"):
    # jobwire's SQLite queue: a trigger fills the job and version columns.
    db.execute("INSERT INTO jobwire_jobs (queue, payload) VALUES (?, ?)", (queue, payload))
    db.commit()


def enqueue_postgres(conn, payload, queue="default"):
    # jobwire's PostgreSQL queue: a trigger fills the job and version
    # columns and wakes the workers (NOTIFY).
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO jobwire_jobs (queue, payload) VALUES (%s, %s)", (queue, payload))


def main():
    kind, target = sys.argv[1], sys.argv[2]
    plain = envelope("user.confirmation", "2.1.0",
                     {"user_id": 1, "message": "from python", "date": "2026-11-24"})
    # A newer producer's extra fields, at every level: ignored by the worker.
    extra = envelope("user.confirmation", "2.1.0",
                     {"user_id": 2, "message": "extra fields", "priority": "high"},
                     trace={"sampled": True})
    extra_doc = json.loads(extra)
    extra_doc["meta"]["tenant"] = "acme"
    extra = json.dumps(extra_doc).encode("utf-8")
    # Keys in another order: the arguments first, the header last.
    reordered = json.dumps({"args": {"message": "reordered", "user_id": 3},
                            "version": "2.0.0", "job": "user.confirmation"}).encode("utf-8")
    if kind == "sqlite":
        import sqlite3
        db = sqlite3.connect(target, timeout=30)
        for payload in (plain, extra, reordered):
            enqueue_sqlite(db, payload)
        db.close()
    elif kind == "postgres":
        import psycopg2
        conn = psycopg2.connect(target)
        for payload in (plain, extra):
            enqueue_postgres(conn, payload)
        # Stored through jsonb, which reorders keys (shortest first).
        with conn, conn.cursor() as cur:
            cur.execute("INSERT INTO jobwire_jobs (payload) VALUES (convert_to(%s::jsonb::text, 'UTF8'))",
                        (reordered.decode("utf-8"),))
        conn.close()
    else:
        sys.exit("usage: produce.py sqlite PATH | postgres URL")


if __name__ == "__main__":
    main()
