-- Retention deletes the claims older than VOCATION_RETENTION_DAYS: they are found by age.
CREATE INDEX ingested_events_accepted_at ON ingested_events (accepted_at);
