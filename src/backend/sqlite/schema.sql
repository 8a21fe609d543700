-- jobwire's SQLite queue, version 2. Times are milliseconds since the Unix
-- epoch. Applied by `Sqlite::open` (or `Sqlite::migrate`); print it with
-- `Sqlite::SCHEMA` to apply it yourself. The defaults use `julianday`, not
-- `unixepoch('subsec')`, so that producers linked to an SQLite older than
-- 3.42 (Python's and Ruby's on Debian 12) can insert rows too.

CREATE TABLE IF NOT EXISTS jobwire_jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    queue       TEXT    NOT NULL DEFAULT 'default',
    -- The envelope's name and version, for the gate and for drain; filled
    -- from the payload when a producer leaves them out, NULL if unreadable.
    job         TEXT,
    version     TEXT,
    payload     BLOB    NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'ready' CHECK (state IN ('ready', 'running')),
    -- Why a ready job waits: 'new', 'deferred', 'snoozed', 'interrupted',
    -- 'released', 'gated' or 'retrying'.
    wait        TEXT    NOT NULL DEFAULT 'new',
    -- When the row may next be claimed: for a ready job, when it becomes
    -- runnable; for a running one, when its lease runs out.
    run_at      INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
    first_seen  INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
    enqueued_at INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
    attempt     INTEGER NOT NULL DEFAULT 0,
    defers      INTEGER NOT NULL DEFAULT 0,
    -- Bumped by every claim: the fence of every change after claiming.
    epoch       INTEGER NOT NULL DEFAULT 0,
    worker      TEXT,
    last_error  TEXT,
    -- Set by a checkpoint: the claim made progress, so a lease that runs
    -- out after it does not count an attempt (version 2).
    progressed  INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX IF NOT EXISTS jobwire_jobs_claimable ON jobwire_jobs (queue, run_at, id);

CREATE TRIGGER IF NOT EXISTS jobwire_jobs_header AFTER INSERT ON jobwire_jobs
WHEN NEW.job IS NULL AND json_valid(CAST(NEW.payload AS TEXT))
BEGIN
    UPDATE jobwire_jobs
    SET job = json_extract(CAST(NEW.payload AS TEXT), '$.job'),
        version = json_extract(CAST(NEW.payload AS TEXT), '$.version')
    WHERE id = NEW.id;
END;

CREATE TABLE IF NOT EXISTS jobwire_dead (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      INTEGER NOT NULL,
    queue       TEXT    NOT NULL,
    job         TEXT,
    version     TEXT,
    -- The bytes as they were: nothing jobwire cannot perform is lost.
    payload     BLOB    NOT NULL,
    reason      TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    defers      INTEGER NOT NULL,
    first_seen  INTEGER NOT NULL,
    enqueued_at INTEGER NOT NULL,
    died_at     INTEGER NOT NULL
);

-- Which versions of this schema are applied: `migrate` applies nothing (and
-- takes no table lock) when the newest is there.
CREATE TABLE IF NOT EXISTS jobwire_schema (version INTEGER PRIMARY KEY);
INSERT OR IGNORE INTO jobwire_schema (version) VALUES (1);
-- Version 2 adds `progressed`; `migrate` adds the column to a version 1
-- table before it records version 2.

