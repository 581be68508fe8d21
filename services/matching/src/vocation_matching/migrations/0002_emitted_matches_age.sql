-- Retention deletes the matches emitted more than VOCATION_RETENTION_DAYS ago: they are found by age.
CREATE INDEX emitted_matches_emitted_at ON emitted_matches (emitted_at);
