-- Who is looking, per département and métier, for the observatory: no name, no contact, only the
-- candidate's id (to update and erase the row), département, wanted métiers and availability.
-- Deleted when the candidate withdraws, and on erasure.
CREATE TABLE candidate_supply (
    id             text        PRIMARY KEY,
    version        integer     NOT NULL,
    kind           text        NOT NULL,
    departement    text        NOT NULL,
    rome_codes     text[]      NOT NULL,
    available_from date        NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX candidate_supply_departement ON candidate_supply (departement);
