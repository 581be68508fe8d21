-- Partners' webhook subscriptions, and the deliveries to make (an outbox: one row per event and
-- subscription, sent in order per entity, retried with backoff until the partner answers 2xx).
CREATE TABLE webhook_subscriptions (
    id         text        PRIMARY KEY,
    partner    text        NOT NULL REFERENCES partners (name),
    url        text        NOT NULL,
    types      text[]      NOT NULL,
    secret     text        NOT NULL,  -- signs the deliveries: the partner checks with the same secret
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE webhook_deliveries (
    seq             bigserial   PRIMARY KEY,
    subscription_id text        NOT NULL REFERENCES webhook_subscriptions (id),
    source          text        NOT NULL,
    event_id        text        NOT NULL,
    subject         text        NOT NULL,
    type            text        NOT NULL,
    body            bytea       NOT NULL,  -- the CloudEvent as it is on the topic
    state           text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_at         timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    UNIQUE (subscription_id, source, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (subscription_id, subject, seq) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (created_at) WHERE state <> 'pending';
