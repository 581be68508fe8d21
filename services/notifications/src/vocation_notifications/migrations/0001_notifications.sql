-- Contacts and consent: the full state last received from candidate-contacts (or changed here by
-- a STOP reply or an unsubscribe link). Personal data: erased on the topic's tombstone.
CREATE TABLE contacts (
    candidate_id     text        PRIMARY KEY,
    email            text,
    phone            text,
    channels         text[]      NOT NULL DEFAULT '{}',
    digest           text        NOT NULL DEFAULT 'instant',
    urgent_shift_sms boolean     NOT NULL DEFAULT false,
    language         text        NOT NULL DEFAULT 'fr',
    version          integer     NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contacts_phone ON contacts (phone) WHERE phone IS NOT NULL;

-- Read models for booking notifications: the host's tutor address and the slot's essentials.
CREATE TABLE establishments (
    id            text    PRIMARY KEY,
    name          text    NOT NULL,
    commune_insee text,
    address       text,
    tutor_email   text,
    version       integer NOT NULL
);

CREATE TABLE immersion_slots (
    id                 text    PRIMARY KEY,
    establishment_id   text    NOT NULL,
    establishment_name text    NOT NULL,
    title              text    NOT NULL,
    rome_code          text,
    commune_insee      text,
    tutor_name         text,
    version            integer NOT NULL
);

-- The outbox: one row per message to send. The unique key makes planning idempotent and a
-- notification is sent at most once per (recipient, channel, purpose, subject, version).
CREATE TABLE outbox (
    id                  uuid        PRIMARY KEY,
    recipient_id        text        NOT NULL,
    recipient_kind      text        NOT NULL CHECK (recipient_kind IN ('candidate', 'establishment')),
    channel             text        NOT NULL CHECK (channel IN ('email', 'sms')),
    purpose             text        NOT NULL,
    about_id            text        NOT NULL,
    about_version       integer     NOT NULL DEFAULT 1,
    related_id          text,
    payload             jsonb       NOT NULL DEFAULT '{}',
    critical            boolean     NOT NULL DEFAULT false,
    state               text        NOT NULL CHECK (state IN ('held', 'pending', 'sending', 'sent', 'failed', 'suppressed', 'digested')),
    not_before          timestamptz NOT NULL,
    attempts            integer     NOT NULL DEFAULT 0,
    attempt_id          uuid,
    claimed_at          timestamptz,
    lease_until         timestamptz,
    last_error          text,
    provider_message_id text,
    sent_at             timestamptz,
    why                 text,
    digest_id           uuid,
    created_at          timestamptz NOT NULL,
    UNIQUE (recipient_id, channel, purpose, about_id, about_version)
);
CREATE INDEX outbox_due ON outbox (not_before) WHERE state = 'pending';
CREATE INDEX outbox_held ON outbox (not_before) WHERE state = 'held';
CREATE INDEX outbox_leases ON outbox (lease_until) WHERE state = 'sending';
CREATE INDEX outbox_recipient ON outbox (recipient_id, channel, claimed_at);
CREATE INDEX outbox_related ON outbox (related_id) WHERE related_id IS NOT NULL;

-- Facts to publish on `notifications`, written in the same transaction as the state change
-- that causes them, published then deleted by the worker (a transactional outbox of events).
CREATE TABLE outcome_events (
    seq          bigserial PRIMARY KEY,
    event_id     text      NOT NULL UNIQUE,
    event        jsonb     NOT NULL
);
