-- What matching learns from the `applications` topic, kept so that a restart keeps it.

-- A candidate's « Pas pour moi »: the offer is never proposed to them again, and the lesson of its
-- reason, resolved when it arrived (core/learning.py), narrows what comes next. The first refusal of
-- a pair wins; event_id is the fact that said it (a replay inserts nothing). Deleted with the
-- candidate (withdrawal or erasure).
CREATE TABLE match_declines (
    candidate_id   text        NOT NULL,
    offer_source   text        NOT NULL,
    offer_id       text        NOT NULL,
    event_id       text        NOT NULL UNIQUE,
    reason         text,
    basis          text        NOT NULL DEFAULT '',  -- digest of the profile fields the lesson is about
    distance_km    double precision,                 -- too_far: the declined offer's distance
    night          boolean     NOT NULL DEFAULT false,
    weekend        boolean     NOT NULL DEFAULT false,
    excluded_close text[]      NOT NULL DEFAULT '{}',
    contract       text,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (candidate_id, offer_source, offer_id)
);
CREATE INDEX match_declines_recorded_at ON match_declines (recorded_at);

-- Hires through the platform, once per application: a vacancy's effective filled posts are
-- max(posts_filled stated by its partner, its hires here). No candidate id: the application id is
-- the pair's (a UUID v5), and the count outlives the candidate's erasure.
CREATE TABLE platform_hires (
    application_id text        PRIMARY KEY,
    vacancy_id     text        NOT NULL,
    event_id       text        NOT NULL UNIQUE,
    recorded_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX platform_hires_recorded_at ON platform_hires (recorded_at);
