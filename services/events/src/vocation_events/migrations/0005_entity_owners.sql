-- Owners of entities: the first partner source that published an entity's id, per kind of entity
-- (core/ownership.py). Rows are inserted in the claim transaction of the event that names the
-- entity first; only `vocation partners transfer` changes an owner.
CREATE TABLE entity_owners (
    kind       text        NOT NULL,
    entity_id  text        NOT NULL,
    owner      text        NOT NULL,  -- the partner's CloudEvents source
    claimed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, entity_id)
);
-- GET /v1/entities: a partner's own entities of a kind, by id.
CREATE INDEX entity_owners_owner ON entity_owners (owner, kind, entity_id);

-- The audit trail of ownership transfers (a merger of two partners' systems), append-only.
CREATE TABLE ownership_transfers (
    seq            bigserial   PRIMARY KEY,
    kind           text        NOT NULL,
    entity_id      text        NOT NULL,
    from_owner     text,       -- NULL: the entity had no owner yet
    to_owner       text        NOT NULL,
    to_partner     text        NOT NULL,
    operator       text        NOT NULL,
    reason         text,
    transferred_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ownership_transfers_entity ON ownership_transfers (entity_id, kind);

CREATE FUNCTION ownership_transfers_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ownership audit trail is append-only';
END
$$;
CREATE TRIGGER ownership_transfers_no_update BEFORE UPDATE OR DELETE ON ownership_transfers
    FOR EACH ROW EXECUTE FUNCTION ownership_transfers_append_only();

-- Deployments that ran before owners existed: each entity belongs to the first partner source
-- that published it, by the platform's clock (when the gateway accepted it, else when the archive
-- stored it; never the event's own `time`, which the partner sets). Sources of the platform's
-- services (urn:vocation:…) own nothing.
CREATE TEMPORARY TABLE subject_kinds (type text PRIMARY KEY, kind text NOT NULL) ON COMMIT DROP;
INSERT INTO subject_kinds VALUES
    ('fr.vocation.establishment.registered.v1', 'establishment'),
    ('fr.vocation.establishment.updated.v1', 'establishment'),
    ('fr.vocation.vacancy.posted.v1', 'vacancy'),
    ('fr.vocation.vacancy.updated.v1', 'vacancy'),
    ('fr.vocation.vacancy.closed.v1', 'vacancy'),
    ('fr.vocation.shift.accepted.v1', 'vacancy'),
    ('fr.vocation.candidate.registered.v1', 'candidate'),
    ('fr.vocation.apprentice.registered.v1', 'candidate'),
    ('fr.vocation.candidate.updated.v1', 'candidate'),
    ('fr.vocation.candidate.withdrawn.v1', 'candidate'),
    ('fr.vocation.contact.registered.v1', 'candidate'),
    ('fr.vocation.consent.updated.v1', 'candidate'),
    ('fr.vocation.training-session.published.v1', 'training-session'),
    ('fr.vocation.training-session.updated.v1', 'training-session'),
    ('fr.vocation.immersion-slot.offered.v1', 'immersion-slot'),
    ('fr.vocation.immersion-slot.updated.v1', 'immersion-slot'),
    ('fr.vocation.immersion-slot.closed.v1', 'immersion-slot');

INSERT INTO entity_owners (kind, entity_id, owner, claimed_at)
SELECT DISTINCT ON (kind, entity_id) kind, entity_id, source, at
FROM (
    -- what the gateway accepted (0: its own record comes first at equal times)
    SELECT k.kind, i.subject AS entity_id, i.source, i.accepted_at AS at, 0 AS rank
    FROM ingested_events i JOIN subject_kinds k ON k.type = i.type
    UNION ALL
    -- what the archive holds (older than the claims' retention, or written straight to Kafka)
    SELECT k.kind, a.subject, a.source, a.archived_at, 1
    FROM archived_events a JOIN subject_kinds k ON k.type = a.type
    UNION ALL
    SELECT 'establishment', a.event -> 'data' -> 'establishment' ->> 'id', a.source, a.archived_at, 1
    FROM archived_events a
    WHERE a.type IN ('fr.vocation.vacancy.posted.v1', 'fr.vocation.vacancy.updated.v1',
                     'fr.vocation.vacancy.closed.v1', 'fr.vocation.immersion-slot.offered.v1',
                     'fr.vocation.immersion-slot.updated.v1', 'fr.vocation.immersion-slot.closed.v1')
    UNION ALL
    SELECT 'immersion-request', a.event -> 'data' ->> 'request_id', a.source, a.archived_at, 1
    FROM archived_events a WHERE a.type = 'fr.vocation.immersion.requested.v1'
) AS published
WHERE entity_id IS NOT NULL AND source NOT LIKE 'urn:vocation:%'
ORDER BY kind, entity_id, at, rank, source;
