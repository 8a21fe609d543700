-- jobwire's PostgreSQL queue, version 1. Applied by `Postgres::connect` (or
-- `Postgres::migrate`) under an advisory lock, so that workers starting
-- together do not race; print it with `Postgres::SCHEMA` to apply it
-- yourself. The tables live in the connection's search_path.

CREATE TABLE IF NOT EXISTS jobwire_jobs (
    id          BIGSERIAL   PRIMARY KEY,
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
    last_error  TEXT
);

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

-- Which versions of this schema are applied: `migrate` applies nothing (and
-- takes no table lock) when the newest is there.
CREATE TABLE IF NOT EXISTS jobwire_schema (version INTEGER PRIMARY KEY);
INSERT INTO jobwire_schema (version) VALUES (1) ON CONFLICT DO NOTHING;
