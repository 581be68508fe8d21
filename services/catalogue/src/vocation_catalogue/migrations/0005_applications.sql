-- Applications (issue 14): one row per (candidate, offer) pair, keyed by the pair's id
-- (`application_id_of`): a double submit is one row (INSERT … ON CONFLICT on the id). Personal:
-- deleted on the candidate's erasure. `departement` (the establishment's, for working days) and
-- `rome_code` are the offer's when the pair was first written (the observatory counts by them).
CREATE TABLE applications (
    application_id       text        PRIMARY KEY,
    candidate_id         text        NOT NULL,
    offer_id             text        NOT NULL,
    offer_kind           text        NOT NULL,
    departement          text        NOT NULL,
    rome_code            text        NOT NULL,
    state                text        NOT NULL,
    revision             integer     NOT NULL,
    match_id             text,
    decline_reason       text,
    withdrawal_reason    text,
    match_decline_reason text,
    submitted_at         timestamptz,
    answer_due           date,
    first_answer_at      timestamptz,
    interview_proposed_at timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX applications_candidate ON applications (candidate_id);
CREATE INDEX applications_pending_offer ON applications (offer_id)
    WHERE state IN ('submitted', 'interview_proposed');
CREATE INDEX applications_due ON applications (answer_due) WHERE state = 'submitted';

-- The standing match of a pair (from `matches`): its id, distance and reasons, for the personal
-- page and the application's summary. Personal: deleted on erasure.
CREATE TABLE pair_matches (
    candidate_id text             NOT NULL,
    offer_id     text             NOT NULL,
    match_id     text             NOT NULL,
    distance_km  double precision,
    reasons      text[]           NOT NULL,
    PRIMARY KEY (candidate_id, offer_id)
);

-- What the employer reads of a candidate (diplomas, experience, availability): personal, kept
-- with the candidate's supply row, which goes when they withdraw and on erasure.
ALTER TABLE candidate_supply ADD COLUMN summary jsonb NOT NULL DEFAULT '{}'::jsonb;

-- Hires recorded through the platform: a vacancy's effective filled posts are
-- max(posts_filled of its partner, platform_hires); each application's hire counts once.
ALTER TABLE vacancies ADD COLUMN platform_hires integer NOT NULL DEFAULT 0;

-- The applications' facts, committed with the state they tell and relayed to Kafka in order
-- (vocation_shared.postgres.outbox): a page's POST does not wait on the broker, and a crash
-- between the commit and the publish loses nothing.
CREATE TABLE application_outbox (
    seq      bigserial PRIMARY KEY,
    event_id text      NOT NULL UNIQUE,
    event    jsonb     NOT NULL
);
