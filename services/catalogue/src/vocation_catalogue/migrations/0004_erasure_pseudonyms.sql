-- The erasure ledger keeps the keyed pseudonym of each erased candidate, never the id
-- (vocation_shared.pseudonyms). Rows written before hold the bare id: the service rewrites them
-- at start (`pseudonymize_ledgers`), as SQL cannot compute the pseudonym without the key.
ALTER TABLE erased_candidates RENAME COLUMN candidate_id TO candidate_pseudonym;

-- The tombstones an outcome wrote on `immersion-bookings` (keys `<slot id>/<request id>`), to write
-- them again on a redelivery, as its events are.
ALTER TABLE immersion_outcomes ADD COLUMN tombstones text[] NOT NULL DEFAULT '{}';
