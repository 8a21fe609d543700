-- jobwire's PostgreSQL queue, version 3. Applied by `Postgres::connect` (or
-- `Postgres::migrate`) under an advisory lock, so that workers starting
-- together do not race; print it with `Postgres::SCHEMA` to apply it
-- yourself. The tables live in the connection's search_path.

-- Version 3: the jobs live in segments, the partitions of `jobwire_jobs`.
-- New rows go to the current segment. Once enough rows have gone in (or
-- enough time has passed), the next empty segment becomes current; a
-- segment that is no longer current and holds no row is emptied with
-- TRUNCATE, which frees its space and its dead tuples at once, whatever
-- snapshot a transaction elsewhere in the cluster holds (VACUUM cannot
-- reclaim past one). `jobwire_rotate()`, which workers call every second,
-- does both. Producers keep inserting into `jobwire_jobs`, as before.
CREATE TABLE IF NOT EXISTS jobwire_rotation (
    only_row     BOOLEAN     PRIMARY KEY DEFAULT true CHECK (only_row),
    -- The segment new rows go to.
    current      SMALLINT    NOT NULL DEFAULT 0,
    -- How many segments there are (set when the table is created).
    segments     SMALLINT    NOT NULL DEFAULT 4,
    -- The id sequence's value when `current` became current.
    since_id     BIGINT      NOT NULL DEFAULT 0,
    rotated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Rotate once this many rows went into the current segment, or once
    -- `rotate_every` has passed with at least one row in.
    rotate_after BIGINT      NOT NULL DEFAULT 2000 CHECK (rotate_after > 0),
    rotate_every INTERVAL    NOT NULL DEFAULT '5 seconds',
    -- A segment that is no longer current and holds at most this many
    -- waiting rows has them moved to the current one, so that it can be
    -- emptied; rows running there stay until they settle.
    move_below   INTEGER     NOT NULL DEFAULT 1000 CHECK (move_below >= 0)
);
INSERT INTO jobwire_rotation DEFAULT VALUES ON CONFLICT (only_row) DO NOTHING;

CREATE OR REPLACE FUNCTION jobwire_segment() RETURNS SMALLINT LANGUAGE sql STABLE AS
    $$ SELECT current FROM jobwire_rotation $$;

-- A queue from before version 3 is one plain table: it is set aside here
-- and its rows are copied into the segments below, ids and fences kept.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_class WHERE oid = to_regclass('jobwire_jobs') AND relkind = 'r') THEN
        LOCK TABLE jobwire_jobs IN ACCESS EXCLUSIVE MODE;
        ALTER TABLE jobwire_jobs RENAME TO jobwire_jobs_before_v3;
        ALTER INDEX IF EXISTS jobwire_jobs_pkey RENAME TO jobwire_jobs_before_v3_pkey;
        ALTER INDEX IF EXISTS jobwire_jobs_claimable RENAME TO jobwire_jobs_before_v3_claimable;
        ALTER TABLE jobwire_jobs_before_v3 ADD COLUMN IF NOT EXISTS progressed BOOLEAN NOT NULL DEFAULT false;
        DROP TRIGGER IF EXISTS jobwire_jobs_header ON jobwire_jobs_before_v3;
        DROP TRIGGER IF EXISTS jobwire_jobs_notify ON jobwire_jobs_before_v3;
        -- The ids go on from where they were.
        ALTER SEQUENCE IF EXISTS jobwire_jobs_id_seq OWNED BY NONE;
    END IF;
END $$;

CREATE SEQUENCE IF NOT EXISTS jobwire_jobs_id_seq;

CREATE TABLE IF NOT EXISTS jobwire_jobs (
    id          BIGINT      NOT NULL DEFAULT nextval('jobwire_jobs_id_seq'),
    queue       TEXT        NOT NULL DEFAULT 'default',
    -- The envelope's name and version, for the gate and for drain; filled
    -- from the payload when a producer leaves them out, NULL if unreadable.
    job         TEXT,
    version     TEXT,
    payload     BYTEA       NOT NULL,
    state       TEXT        NOT NULL DEFAULT 'ready' CHECK (state IN ('ready', 'running')),
    -- Why a ready job waits: 'new', 'deferred', 'snoozed', 'interrupted',
    -- 'released', 'gated' or 'retrying'.
    wait        TEXT        NOT NULL DEFAULT 'new',
    -- When the row may next be claimed: for a ready job, when it becomes
    -- runnable; for a running one, when its lease runs out.
    run_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    first_seen  TIMESTAMPTZ NOT NULL DEFAULT now(),
    enqueued_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempt     INTEGER     NOT NULL DEFAULT 0,
    defers      INTEGER     NOT NULL DEFAULT 0,
    -- Bumped by every claim: the fence of every change after claiming.
    epoch       BIGINT      NOT NULL DEFAULT 0,
    worker      TEXT,
    last_error  TEXT,
    -- Set by a checkpoint: the claim made progress, so a lease that runs
    -- out after it does not count an attempt.
    progressed  BOOLEAN     NOT NULL DEFAULT false,
    -- The partition the row is in (`jobwire_rotation.current` when it went in).
    segment     SMALLINT    NOT NULL DEFAULT jobwire_segment(),
    PRIMARY KEY (id, segment)
) PARTITION BY LIST (segment);
ALTER SEQUENCE jobwire_jobs_id_seq OWNED BY jobwire_jobs.id;

DO $$
DECLARE
    n SMALLINT;
BEGIN
    FOR n IN 0 .. (SELECT segments - 1 FROM jobwire_rotation) LOOP
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF jobwire_jobs FOR VALUES IN (%s)',
                       'jobwire_jobs_' || n, n);
    END LOOP;
END $$;

CREATE INDEX IF NOT EXISTS jobwire_jobs_claimable ON jobwire_jobs (queue, run_at, id);

CREATE OR REPLACE FUNCTION jobwire_jobs_header() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.job IS NULL THEN
        BEGIN
            NEW.job := convert_from(NEW.payload, 'UTF8')::jsonb ->> 'job';
            NEW.version := convert_from(NEW.payload, 'UTF8')::jsonb ->> 'version';
        EXCEPTION WHEN others THEN
            NULL; -- not an envelope: the worker will dead-letter it
        END;
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS jobwire_jobs_header ON jobwire_jobs;
CREATE TRIGGER jobwire_jobs_header BEFORE INSERT ON jobwire_jobs
    FOR EACH ROW EXECUTE FUNCTION jobwire_jobs_header();

-- Wakes idle workers when work arrives, from any producer, in any language.
CREATE OR REPLACE FUNCTION jobwire_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jobwire', NEW.queue);
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS jobwire_jobs_notify ON jobwire_jobs;
CREATE TRIGGER jobwire_jobs_notify AFTER INSERT ON jobwire_jobs
    FOR EACH ROW EXECUTE FUNCTION jobwire_jobs_notify();

CREATE TABLE IF NOT EXISTS jobwire_dead (
    id          BIGSERIAL   PRIMARY KEY,
    job_id      BIGINT      NOT NULL,
    queue       TEXT        NOT NULL,
    job         TEXT,
    version     TEXT,
    -- The bytes as they were: nothing jobwire cannot perform is lost.
    payload     BYTEA       NOT NULL,
    reason      TEXT        NOT NULL,
    attempt     INTEGER     NOT NULL,
    defers      INTEGER     NOT NULL,
    first_seen  TIMESTAMPTZ NOT NULL,
    enqueued_at TIMESTAMPTZ NOT NULL,
    died_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The rows of a queue from before version 3, copied into the segments with
-- their ids, fences and times; then its table goes.
DO $$
BEGIN
    IF to_regclass('jobwire_jobs_before_v3') IS NOT NULL THEN
        INSERT INTO jobwire_jobs (id, queue, job, version, payload, state, wait, run_at,
                                  first_seen, enqueued_at, attempt, defers, epoch, worker,
                                  last_error, progressed)
        SELECT id, queue, job, version, payload, state, wait, run_at, first_seen, enqueued_at,
               attempt, defers, epoch, worker, last_error, progressed
        FROM jobwire_jobs_before_v3;
        DROP TABLE jobwire_jobs_before_v3;
    END IF;
END $$;

-- One turn of the rotation; workers call it every second, one at a time
-- (the others return at once, busy). For each segment that is not
-- current: if it holds few rows, its waiting ones move to the current
-- segment, ids and fences kept (rows locked by a claim are left to it);
-- once it holds none, it is emptied with TRUNCATE, under a lock taken only
-- if it is free at once, so that claims never queue behind it.
-- Then, if enough rows went into the current segment, the next empty one
-- becomes current. Returns what it did: `locked` names the empty segments
-- it could not lock at once (a long reader holds them), which the caller
-- may VACUUM instead, since VACUUM cannot run inside a function.
DROP FUNCTION IF EXISTS jobwire_rotate();
CREATE FUNCTION jobwire_rotate(OUT busy BOOLEAN, OUT current SMALLINT, OUT moved BIGINT,
                               OUT truncated SMALLINT[], OUT locked SMALLINT[])
LANGUAGE plpgsql AS $$
DECLARE
    r jobwire_rotation%ROWTYPE;
    seg SMALLINT;
    part TEXT;
    live BIGINT;
    n BIGINT;
    emptied SMALLINT[] := '{}';
    last_id BIGINT;
    next_seg SMALLINT;
    empty BOOLEAN;
BEGIN
    busy := true;
    moved := 0;
    truncated := '{}';
    locked := '{}';
    IF NOT pg_try_advisory_xact_lock(to_regclass('jobwire_rotation')::oid::bigint) THEN
        RETURN;
    END IF;
    busy := false;
    SELECT * INTO r FROM jobwire_rotation;
    current := r.current;
    FOR i IN 1 .. r.segments - 1 LOOP
        seg := (r.current + i) % r.segments;
        part := 'jobwire_jobs_' || seg;
        EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM %I LIMIT %s) AS held', part, r.move_below + 1)
            INTO live;
        IF live > 0 AND live <= r.move_below THEN
            EXECUTE format(
                'WITH gone AS (
                     DELETE FROM %1$I AS j
                     WHERE j.id IN (SELECT id FROM %1$I WHERE state = ''ready'' FOR UPDATE SKIP LOCKED)
                     RETURNING j.*)
                 INSERT INTO jobwire_jobs (id, queue, job, version, payload, state, wait, run_at,
                                           first_seen, enqueued_at, attempt, defers, epoch, worker,
                                           last_error, progressed, segment)
                 SELECT id, queue, job, version, payload, state, wait, run_at, first_seen,
                        enqueued_at, attempt, defers, epoch, worker, last_error, progressed, %2$s
                 FROM gone', part, r.current);
            GET DIAGNOSTICS n = ROW_COUNT;
            moved := moved + n;
            live := live - n;
        END IF;
        IF live = 0 THEN
            emptied := emptied || seg;
        END IF;
    END LOOP;

    SELECT CASE WHEN is_called THEN last_value ELSE 0 END INTO last_id FROM jobwire_jobs_id_seq;
    IF last_id - r.since_id >= r.rotate_after
       OR (last_id > r.since_id AND now() - r.rotated_at >= r.rotate_every) THEN
        FOR i IN 1 .. r.segments - 1 LOOP
            seg := (r.current + i) % r.segments;
            IF seg = ANY (emptied) THEN
                next_seg := seg;
                EXIT;
            END IF;
        END LOOP;
        IF next_seg IS NOT NULL THEN
            UPDATE jobwire_rotation AS t SET current = next_seg, since_id = last_id, rotated_at = now();
            current := next_seg;
        END IF;
    END IF;

    -- Last, so that the locks are held only until the commit just after.
    -- NOWAIT: a lock request that waited would queue every claim behind it.
    FOREACH seg IN ARRAY emptied LOOP
        part := 'jobwire_jobs_' || seg;
        CONTINUE WHEN pg_relation_size(part) = 0;
        BEGIN
            EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE NOWAIT', part);
            EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %I)', part) INTO empty;
            IF empty THEN
                EXECUTE format('TRUNCATE %I', part);
                truncated := truncated || seg;
            END IF;
        EXCEPTION WHEN lock_not_available THEN
            locked := locked || seg; -- a reader holds it: next turn
        END;
    END LOOP;
END $$;

-- Which versions of this schema are applied: `migrate` applies nothing (and
-- takes no table lock) when the newest is there. `readable_from` is the
-- oldest schema version whose code may still work on this one: a build that
-- finds a newer schema than its own goes on only if it is at least that
-- version, so a rolling upgrade of jobwire itself never lets old workers
-- misread new tables.
CREATE TABLE IF NOT EXISTS jobwire_schema (version INTEGER PRIMARY KEY);
ALTER TABLE jobwire_schema ADD COLUMN IF NOT EXISTS readable_from INTEGER;
-- Version 2 only added a column 0.2's workers never read, and version 3
-- keeps every column and statement of theirs working on the segments (they
-- do not rotate, and the rotation moves only rows no claim holds): they
-- work on.
INSERT INTO jobwire_schema (version, readable_from) VALUES (1, 1), (2, 1), (3, 1)
    ON CONFLICT (version) DO UPDATE SET readable_from = EXCLUDED.readable_from;
