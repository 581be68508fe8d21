-- Idempotent consumption: the ids of the events a consumer has already applied.
-- A row is written in the same transaction as the effect of the event.
CREATE TABLE processed_events (
    consumer     text        NOT NULL,
    source       text        NOT NULL,
    event_id     text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, source, event_id)
);
CREATE INDEX processed_events_processed_at ON processed_events (processed_at);
