-- Candidates erased (withdrawn with erasure asked): a request of theirs that arrives after the
-- erasure (another topic, consumed in parallel) is not decided, so nothing about them is stored again.
CREATE TABLE erased_candidates (
    candidate_id text        PRIMARY KEY,
    erased_at    timestamptz NOT NULL DEFAULT now()
);
