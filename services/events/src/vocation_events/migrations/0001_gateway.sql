-- The partners allowed to publish through the gateway; API keys are stored hashed (SHA-256).
CREATE TABLE partners (
    name          text        PRIMARY KEY,
    source        text        NOT NULL,
    allowed_types text[]      NOT NULL,
    key_hash      bytea       NOT NULL UNIQUE,
    key_hint      text        NOT NULL,
    rate_per_s    double precision,
    burst         double precision,
    rome_v3       boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);

-- Idempotency of ingestion: one row per accepted (source, id). The row is inserted in a
-- transaction that stays open while Kafka acknowledges, and commits only after: a concurrent
-- copy waits on the row lock, then sees it (duplicate) or, if the first failed, takes it.
CREATE TABLE ingested_events (
    source      text        NOT NULL,
    event_id    text        NOT NULL,
    type        text        NOT NULL,
    subject     text        NOT NULL,
    partner     text        NOT NULL,
    accepted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, event_id)
);

-- The archive: every event of every entity topic, append-only (rows are only deleted by erasure).
CREATE TABLE archived_events (
    seq          bigserial   PRIMARY KEY,
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    "offset"     bigint      NOT NULL,
    source       text        NOT NULL,
    event_id     text        NOT NULL,
    type         text        NOT NULL,
    subject      text        NOT NULL,
    time         timestamptz NOT NULL,
    archived_at  timestamptz NOT NULL DEFAULT now(),
    event        jsonb       NOT NULL,
    UNIQUE (source, event_id)
);
CREATE INDEX archived_events_subject ON archived_events (subject, time);
CREATE INDEX archived_events_type ON archived_events (type, time);
CREATE INDEX archived_events_time ON archived_events (time);
CREATE INDEX archived_events_source ON archived_events (source, time);
CREATE INDEX archived_events_topic ON archived_events (topic, time);

CREATE FUNCTION archived_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event archive is append-only';
END
$$;
CREATE TRIGGER archived_events_no_update BEFORE UPDATE ON archived_events
    FOR EACH ROW EXECUTE FUNCTION archived_events_append_only();

-- Erasures done: the archive never stores again what belongs to an erased candidate.
CREATE TABLE erasures (
    candidate_id text        PRIMARY KEY,
    source       text        NOT NULL,
    event_id     text        NOT NULL,
    erased_at    timestamptz NOT NULL DEFAULT now()
);
