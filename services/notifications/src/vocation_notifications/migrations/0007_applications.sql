-- Issue 14: applications. The recruiting contact (a professional's name, email and phone: personal
-- data) of a site and of a vacancy, replaced by each newer version, cleared when a version has none.
ALTER TABLE establishments ADD COLUMN recruiting_name text;
ALTER TABLE establishments ADD COLUMN recruiting_email text;
ALTER TABLE establishments ADD COLUMN recruiting_phone text;

-- What the messages of an application show of its vacancy, and where « Voir l'offre » goes.
CREATE TABLE vacancies (
    id                 text    PRIMARY KEY,
    establishment_id   text    NOT NULL,
    establishment_name text    NOT NULL,
    title              text    NOT NULL,
    commune_insee      text,
    application_url    text,
    recruiting_name    text,
    recruiting_email   text,
    recruiting_phone   text,
    version            integer NOT NULL
);

-- The recruiting contact of a vacancy receives its applications: recipient_id = the vacancy id.
ALTER TABLE outbox DROP CONSTRAINT outbox_recipient_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_recipient_kind_check
    CHECK (recipient_kind IN ('candidate', 'establishment', 'recruiter'));
-- A recruiter's rows name the candidate in their payload: erasure finds them by it.
CREATE INDEX outbox_recruiter_candidate ON outbox ((payload ->> 'candidate_id')) WHERE recipient_kind = 'recruiter';
