-- The archive's erasure off the ingestion path: each archived row names the candidate it is about
-- (`data.candidate_id`, else the subject on the topics keyed by candidate), indexed; the claim of
-- a withdrawal only records the erasure, and the events service's eraser deletes the rows in
-- bounded batches, then marks the erasure applied.
ALTER TABLE archived_events ADD COLUMN candidate_id text;

-- Rows archived before: filled once (the append-only trigger is lifted for this migration only).
ALTER TABLE archived_events DISABLE TRIGGER archived_events_no_update;
UPDATE archived_events
SET candidate_id = coalesce(
    event -> 'data' ->> 'candidate_id',
    CASE WHEN topic IN ('candidates', 'candidate-contacts', 'matches', 'notifications') THEN subject END
)
WHERE event -> 'data' ? 'candidate_id'
   OR topic IN ('candidates', 'candidate-contacts', 'matches', 'notifications');
ALTER TABLE archived_events ENABLE TRIGGER archived_events_no_update;

CREATE INDEX archived_events_candidate ON archived_events (candidate_id) WHERE candidate_id IS NOT NULL;

-- Erasures recorded before were applied in their claim's transaction.
ALTER TABLE erasures ADD COLUMN applied_at timestamptz;
UPDATE erasures SET applied_at = erased_at;
CREATE INDEX erasures_pending ON erasures (erased_at) WHERE applied_at IS NULL;
