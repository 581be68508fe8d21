-- Erasure leaves no id (vocation_shared.pseudonyms): the ledgers keep a keyed pseudonym of a
-- candidate's id, or nothing.

-- Idempotency is (source, id): the subject (the candidate's id on a candidate's events) served no
-- check; it goes.
ALTER TABLE ingested_events DROP COLUMN subject;

-- The erasure ledger recognises an erased candidate by the pseudonym of their id. The id itself is
-- kept only while the archive's eraser has not applied the erasure (it deletes the archived rows
-- by it), then set to NULL. The pseudonyms of the erasures recorded before this migration are
-- computed by the service when it starts (`pseudonymize_erasures`: the key is not the database's),
-- before it serves; until then their `candidate_pseudonym` is NULL.
ALTER TABLE erasures ADD COLUMN candidate_pseudonym text;
ALTER TABLE erasures DROP CONSTRAINT erasures_pkey;
ALTER TABLE erasures ALTER COLUMN candidate_id DROP NOT NULL;
CREATE UNIQUE INDEX erasures_candidate_pseudonym ON erasures (candidate_pseudonym);
CREATE INDEX erasures_candidate_id ON erasures (candidate_id) WHERE candidate_id IS NOT NULL;
