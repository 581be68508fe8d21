-- Every match emitted, so that none is emitted twice for the same candidate, offer and offer version.
-- A row is inserted and its event published inside one transaction (see the README).
CREATE TABLE emitted_matches (
    candidate_id      text        NOT NULL,
    offer_source      text        NOT NULL,  -- vac, imm, trn: offer ids are unique per source only
    offer_id          text        NOT NULL,
    offer_version     integer     NOT NULL,
    match_id          text        NOT NULL UNIQUE,
    offer_kind        text        NOT NULL,
    fingerprint       text        NOT NULL,  -- what matters to candidates in this offer version
    score             smallint    NOT NULL,
    emitted_on        date        NOT NULL,  -- the platform's local day, for the daily caps
    emitted_at        timestamptz NOT NULL DEFAULT now(),
    withdrawn_at      timestamptz,
    withdrawal_reason text,
    PRIMARY KEY (candidate_id, offer_source, offer_id, offer_version)
);
CREATE INDEX emitted_matches_offer ON emitted_matches (offer_source, offer_id, emitted_on);
CREATE INDEX emitted_matches_candidate_day ON emitted_matches (candidate_id, emitted_on);
