-- Each match emitted writes one row here, about 33 per offer: every index is paid on each insert,
-- on the path from a vacancy to its match events (issue 13's Kafka path). Three go.
--
-- `match_id` is derived from the primary key (core.model.match_id: source, offer, version,
-- candidate; a digest when too long), and nothing looks a row up by it: its unique index only
-- doubled the primary key's work.
ALTER TABLE emitted_matches DROP CONSTRAINT emitted_matches_match_id_key;
-- A candidate's matches of the day are found through the primary key's `candidate_id` prefix (a
-- candidate has a few rows), filtered on `emitted_on`.
DROP INDEX emitted_matches_candidate_day;
-- Retention deletes by age once in a while: a BRIN index of the append-ordered `emitted_at` costs
-- almost nothing per insert, where a B-tree cost one more tree descent per row.
DROP INDEX emitted_matches_emitted_at;
CREATE INDEX emitted_matches_emitted_at ON emitted_matches USING brin (emitted_at);
