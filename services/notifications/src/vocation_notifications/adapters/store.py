"""PostgreSQL: contacts, read models, the outbox and its state changes, and the events to publish."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.events import EVENT_TYPES, AnyEvent
from vocation_shared.contracts.topics import Topic
from vocation_shared.contracts.vocabulary import (
    Channel,
    ConsentOrigin,
    DigestMode,
    ImmersionRefusalReason,
    NotificationPurpose,
    SuppressionReason,
)
from vocation_shared.postgres.retention import Expiry
from vocation_shared.pseudonyms import DEVELOPMENT_PSEUDONYM_KEY, PREFIX, Pseudonymizer

from vocation_notifications.adapters.contact_cipher import ContactCipher, ContactKeyError
from vocation_notifications.core.consent import ConsentMark, Suppression, merge_marks
from vocation_notifications.core.digest import Digest, HeldRow
from vocation_notifications.core.model import Contact, OutboxState, PlannedNotification, RecipientKind
from vocation_notifications.core.policy import SLOT_PURPOSES

OPEN_STATES = ("pending", "held")
_BARE_EVENT_ID = "event_id NOT LIKE '" + PREFIX.replace("_", "\\_") + "%'"
"""A processed mark written before pseudonyms (the predicate of migration 0006's partial index)."""


def _outcome(document: dict[str, Any]) -> QueuedFact:
    """A queued fact as stored: an event, or `{"tombstone": {"topic", "key"}}`."""
    tombstone = document.get("tombstone")
    if isinstance(tombstone, dict):
        return QueuedTombstone(str(tombstone["topic"]), str(tombstone["key"]))
    return EVENT_TYPES[document["type"]].model_validate(document)


FINISHED_NOTIFICATIONS = Expiry(
    "outbox", "created_at", "state IN ('sent', 'failed', 'suppressed', 'digested')"
)
"""Notifications finished long ago (their payload names what a person was told): deleted past the
retention. Facts older than `notice_max_age` are never planned, so a replay cannot send them again."""
_SEALED = ("email", "phone", "first_name")
_ACTIVE = "s.suppressed_at IS NOT NULL AND (s.lifted_at IS NULL OR s.lifted_at <= s.suppressed_at)"
"""An active suppression (`core.consent.Suppression.active`), for a row of `consent_suppressions s`."""
_REACHABLE = (
    "ARRAY(SELECT ch FROM unnest({claimed}) AS ch WHERE NOT EXISTS ("
    "SELECT 1 FROM consent_suppressions s WHERE s.candidate_id = {candidate} AND s.channel = ch AND "
    + _ACTIVE
    + ") ORDER BY ch)"
)
"""The channels claimed minus the active suppressions of that candidate, as SQL."""
_REACHABLE_NEW = _REACHABLE.format(claimed="string_to_array(c.channels, ',')", candidate="c.candidate_id")
_REACHABLE_STORED = _REACHABLE.format(claimed="c.claimed_channels", candidate="c.candidate_id")
"""The personal columns of `contacts`, sealed at rest when keys are configured."""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """An outbox row as the worker sees it, with the recipient's contact or host address."""

    id: str
    recipient_id: str
    recipient_kind: RecipientKind
    channel: Channel
    purpose: NotificationPurpose
    about_id: str
    payload: dict[str, Any]
    critical: bool
    attempts: int
    created_at: datetime
    contact: Contact | None
    host_address: str | None
    attempt_id: str | None = None
    guest_first_name: str | None = None
    """For the host's notice of a booking: the first name of the candidate who booked, if given."""
    unreadable: str | None = None
    """Why the recipient's sealed contact could not be opened (a key missing from the settings)."""

    @property
    def slot_unknown(self) -> bool:
        """A booking message about a slot this service has not read yet (its payload lacks it).

        Not a refusal because the slot does not exist: that slot will never come.
        """
        return (
            self.purpose in SLOT_PURPOSES
            and "slot" not in self.payload
            and self.payload.get("reason") != str(ImmersionRefusalReason.SLOT_UNKNOWN)
        )


def _contact_of(
    record: asyncpg.Record, cipher: ContactCipher, candidate_id: str, prefix: str = ""
) -> Contact:
    """A `contacts` row (its columns under `prefix` in a join) as a contact, its fields opened."""
    return Contact(
        candidate_id=candidate_id,
        email=cipher.open(record[prefix + "email"], candidate_id, "email"),
        phone=cipher.open(record[prefix + "phone"], candidate_id, "phone"),
        channels=frozenset(Channel(c) for c in record[prefix + "channels"]),
        digest=DigestMode(record[prefix + "digest"]),
        urgent_shift_sms=record[prefix + "urgent_shift_sms"],
        language=record[prefix + "language"],
        version=record[prefix + "version"],
        first_name=cipher.open(record[prefix + "first_name"], candidate_id, "first_name"),
    )


def _row_of(record: asyncpg.Record, cipher: ContactCipher) -> OutboxRow:
    contact: Contact | None = None
    guest_first_name: str | None = None
    unreadable: str | None = None
    try:
        if record["c_version"] is not None:
            contact = _contact_of(record, cipher, record["recipient_id"], prefix="c_")
        if record["guest_first_name"] is not None:
            guest = str(record["payload"]["candidate_id"])
            guest_first_name = cipher.open(record["guest_first_name"], guest, "first_name")
    except ContactKeyError as exc:  # this row's problem only: the worker defers it, the others go on
        contact, guest_first_name, unreadable = None, None, str(exc)
    payload: dict[str, Any] = record["payload"]
    if record["s_title"] is not None:
        # Planned before its slot was read (another topic): the slot is known now, it is shown.
        payload = {**payload, "slot": _slot_snapshot(record, "s_", payload.get("places_left"))}
    return OutboxRow(
        id=str(record["id"]),
        recipient_id=record["recipient_id"],
        recipient_kind=RecipientKind(record["recipient_kind"]),
        channel=Channel(record["channel"]),
        purpose=NotificationPurpose(record["purpose"]),
        about_id=record["about_id"],
        payload=payload,
        critical=record["critical"],
        attempts=record["attempts"],
        created_at=record["created_at"],
        contact=contact,
        host_address=record["tutor_email"],
        attempt_id=str(record["attempt_id"]) if record["attempt_id"] is not None else None,
        guest_first_name=guest_first_name,
        unreadable=unreadable,
    )


_SLOT_FIELDS = ("title", "establishment_name", "commune_insee", "tutor_name", "rome_code", "address")


def _slot_snapshot(record: asyncpg.Record, prefix: str, places_left: int | None) -> dict[str, Any]:
    """What booking messages show of a slot, from its columns (under `prefix` in a join)."""
    return {**{k: record[prefix + k] for k in _SLOT_FIELDS}, "places_left": places_left}


def _state_of(row: PlannedNotification) -> OutboxState:
    if row.suppressed_why:
        return OutboxState.SUPPRESSED
    return OutboxState.HELD if row.held else OutboxState.PENDING


class OutcomeEvents:
    """Builds the `notifications` facts (never an email or phone in them)."""

    def __init__(self, source: str) -> None:
        self.source = source

    def _common(self, row: OutboxRow | dict[str, Any]) -> dict[str, Any]:
        get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
        return {
            "notification_id": str(get("id")),
            "recipient_id": get("recipient_id"),
            "channel": get("channel"),
            "purpose": get("purpose"),
            "about_id": get("about_id"),
        }

    def opt_out_restated(self, data: p.ConsentUpdated, now: datetime) -> AnyEvent:
        """An opt-out said again on `candidate-contacts` after a partner's state claimed the channel,
        so that the topic's newest record of the candidate (what compaction keeps) carries it.
        One id per (candidate, channel, partner version): restated once per claim."""
        event_id = f"{data.candidate_id}.opt-out.{data.change.channel}.v{data.version}"
        return ev.ConsentUpdated.build(data, source=self.source, id=event_id, time=now)

    def sent(self, row: OutboxRow, at: datetime, provider_id: str | None, attempts: int) -> AnyEvent:
        """The provider accepted the message."""
        data = p.NotificationSent(
            **self._common(row),
            sent_at=at,
            provider_message_id=(provider_id or None) and provider_id[:300],
            attempts=max(1, attempts),
        )
        return ev.NotificationSent.build(data, source=self.source, id=f"{row.id}.sent", time=at)

    def failed(
        self,
        row: OutboxRow,
        at: datetime,
        error: str,
        *,
        permanent: bool,
        attempts: int,
        next_at: datetime | None,
    ) -> AnyEvent:
        """An attempt failed; `permanent` tells whether it is the end."""
        data = p.NotificationFailed(
            **self._common(row),
            error=error[:300] or "error",
            permanent=permanent,
            attempts=max(1, attempts),
            next_attempt_at=next_at,
        )
        return ev.NotificationFailed.build(
            data, source=self.source, id=f"{row.id}.failed.{attempts}", time=at
        )

    def suppressed(self, row: OutboxRow | dict[str, Any], at: datetime, why: SuppressionReason) -> AnyEvent:
        """Deliberately not sent."""
        data = p.NotificationSuppressed(**self._common(row), why=why)
        ident = row["id"] if isinstance(row, dict) else row.id
        return ev.NotificationSuppressed.build(data, source=self.source, id=f"{ident}.suppressed", time=at)


@dataclass(frozen=True, slots=True)
class QueuedTombstone:
    """A tombstone queued in `outcome_events`: compaction removes every earlier record of `key`."""

    topic: str
    key: str


QueuedFact = AnyEvent | QueuedTombstone


class Store:
    """Every SQL statement of the service. Methods take a connection: the caller owns the transaction."""

    def __init__(
        self,
        events: OutcomeEvents,
        cipher: ContactCipher | None = None,
        pseudonyms: Pseudonymizer | None = None,
    ) -> None:
        """`pseudonyms` None: the development key's (tests); the service passes the deployment's."""
        self.events = events
        self.cipher = cipher or ContactCipher()
        self.pseudonyms = pseudonyms or Pseudonymizer(DEVELOPMENT_PSEUDONYM_KEY)

    def processed_key(self, event_id: str) -> str:
        """What `processed_events` keeps of an event id: its pseudonym (match ids embed candidate ids)."""
        return self.pseudonyms.of("event", event_id)

    async def pseudonymize_processed(self, conn: asyncpg.Connection, chunk: int = 10_000) -> int:
        """Rewrite the processed marks written before pseudonyms (bare event ids); how many.

        Idempotent; runs at start. The partial index of migration 0006 finds the rows left at once.
        """
        done = 0
        while True:
            rows = await conn.fetch(
                f"SELECT consumer, source, event_id FROM processed_events WHERE {_BARE_EVENT_ID} LIMIT $1",
                chunk,
            )
            if not rows:
                return done
            await conn.execute(
                """
                INSERT INTO processed_events (consumer, source, event_id, processed_at)
                SELECT e.consumer, e.source, k.new, e.processed_at
                FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS k(consumer, source, old, new)
                JOIN processed_events e ON (e.consumer, e.source, e.event_id) = (k.consumer, k.source, k.old)
                ON CONFLICT DO NOTHING
                """,
                [r["consumer"] for r in rows],
                [r["source"] for r in rows],
                [r["event_id"] for r in rows],
                [self.processed_key(r["event_id"]) for r in rows],
            )
            await conn.execute(
                """
                DELETE FROM processed_events e USING unnest($1::text[], $2::text[], $3::text[]) AS k(consumer, source, old)
                WHERE (e.consumer, e.source, e.event_id) = (k.consumer, k.source, k.old)
                """,
                [r["consumer"] for r in rows],
                [r["source"] for r in rows],
                [r["event_id"] for r in rows],
            )
            done += len(rows)

    # --- events to publish -------------------------------------------------------------------

    async def queue_events(self, conn: asyncpg.Connection, events: Iterable[AnyEvent]) -> None:
        """Record facts to publish, in this transaction."""
        ids: list[str] = []
        bodies: list[str] = []
        for event in events:
            ids.append(event.id)
            bodies.append(orjson.dumps(event.to_json_dict()).decode())
        if len(ids) == 1:
            await conn.execute(
                "INSERT INTO outcome_events (event_id, event) VALUES ($1, $2::text::jsonb) ON CONFLICT DO NOTHING",
                ids[0],
                bodies[0],
            )
        elif ids:
            # One statement for the lot, in their order (`seq` follows the ordinality).
            await conn.execute(
                """
                INSERT INTO outcome_events (event_id, event)
                SELECT e.event_id, e.event::jsonb
                FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS e(event_id, event, n)
                ORDER BY e.n
                ON CONFLICT DO NOTHING
                """,
                ids,
                bodies,
            )

    async def queue_tombstone(self, conn: asyncpg.Connection, topic: str, key: str) -> None:
        """Queue a tombstone after the facts queued so far, in this transaction."""
        await conn.execute(
            "INSERT INTO outcome_events (event_id, event) VALUES ($1, $2::text::jsonb)",
            f"tombstone.{uuid.uuid4()}",
            orjson.dumps({"tombstone": {"topic": topic, "key": key}}).decode(),
        )

    async def pending_events(self, conn: asyncpg.Connection, limit: int) -> list[tuple[int, QueuedFact]]:
        """The oldest facts (events, tombstones) not published yet, in order, locked for this transaction."""
        records = await conn.fetch(
            "SELECT seq, event FROM outcome_events ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED", limit
        )
        return [(r["seq"], _outcome(r["event"])) for r in records]

    async def delete_events(self, conn: asyncpg.Connection, seqs: Sequence[int]) -> None:
        """Forget published facts."""
        await conn.execute("DELETE FROM outcome_events WHERE seq = ANY($1::bigint[])", list(seqs))

    # --- contacts ----------------------------------------------------------------------------

    async def get_contact(self, conn: asyncpg.Connection, candidate_id: str) -> Contact | None:
        """The stored contact, if any."""
        record = await conn.fetchrow("SELECT * FROM contacts WHERE candidate_id = $1", candidate_id)
        return None if record is None else _contact_of(record, self.cipher, candidate_id)

    async def save_contact(self, conn: asyncpg.Connection, contact: Contact) -> bool:
        """Store a full contact state unless a newer version is stored; True when applied."""
        return bool(await self.save_contacts(conn, [contact]))

    async def get_contacts(
        self, conn: asyncpg.Connection, candidate_ids: Iterable[str]
    ) -> dict[str, Contact]:
        """The stored contacts of these candidates (one query), by candidate id; unknown ones absent."""
        records = await conn.fetch(
            "SELECT * FROM contacts WHERE candidate_id = ANY($1::text[])", sorted(set(candidate_ids))
        )
        return {r["candidate_id"]: _contact_of(r, self.cipher, r["candidate_id"]) for r in records}

    async def save_contacts(self, conn: asyncpg.Connection, contacts: Sequence[Contact]) -> list[str]:
        """Store full contact states (one per candidate) in one statement, each unless a newer version
        is stored (`should_apply`: newer or equal wins). Returns the candidates whose state was applied.

        A state's channels are what its partner claims (`claimed_channels`); `channels`, what may be
        used, is that minus the active suppressions (`core.consent`): a partner's later state does
        not switch an opted-out channel back on. Call `refresh_channels` after `record_consent_marks`
        in the same transaction (the handler does) for the final word under the row locks.
        """
        if not contacts:
            return []
        ordered = sorted(contacts, key=lambda c: c.candidate_id)  # a steady lock order
        records = await conn.fetch(
            f"""
            INSERT INTO contacts (candidate_id, email, phone, phone_index, first_name, claimed_channels,
                                  channels, digest, urgent_shift_sms, language, version, updated_at)
            SELECT c.candidate_id, c.email, c.phone, c.phone_index, c.first_name,
                   string_to_array(c.channels, ','),
                   {_REACHABLE_NEW},
                   c.digest, c.urgent, c.language, c.version, now()
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::text[],
                        $8::int[], $9::text[], $10::text[])
                 AS c(candidate_id, email, phone, channels, digest, urgent, language, version, phone_index,
                      first_name)
            ON CONFLICT (candidate_id) DO UPDATE SET
                email = EXCLUDED.email, phone = EXCLUDED.phone, phone_index = EXCLUDED.phone_index,
                first_name = EXCLUDED.first_name, claimed_channels = EXCLUDED.claimed_channels,
                channels = EXCLUDED.channels, digest = EXCLUDED.digest,
                urgent_shift_sms = EXCLUDED.urgent_shift_sms, language = EXCLUDED.language,
                version = EXCLUDED.version, updated_at = now()
            WHERE contacts.version <= EXCLUDED.version
            RETURNING candidate_id
            """,
            [c.candidate_id for c in ordered],
            [self.cipher.seal(c.email, c.candidate_id, "email") for c in ordered],
            [self.cipher.seal(c.phone, c.candidate_id, "phone") for c in ordered],
            [",".join(sorted(str(ch) for ch in c.channels)) for c in ordered],
            [str(c.digest) for c in ordered],
            [c.urgent_shift_sms for c in ordered],
            [c.language for c in ordered],
            [c.version for c in ordered],
            [self.cipher.phone_index(c.phone) for c in ordered],
            [self.cipher.seal(c.first_name, c.candidate_id, "first_name") for c in ordered],
        )
        return [r["candidate_id"] for r in records]

    async def add_missing_contacts(self, conn: asyncpg.Connection, contacts: Sequence[Contact]) -> list[str]:
        """Store full states this service published (an opt-out) only for candidates with no contact
        here (a rebuild from the topic); returns those stored."""
        if not contacts:
            return []
        stored = {
            r["candidate_id"]
            for r in await conn.fetch(
                "SELECT candidate_id FROM contacts WHERE candidate_id = ANY($1::text[])",
                [c.candidate_id for c in contacts],
            )
        }
        return await self.save_contacts(conn, [c for c in contacts if c.candidate_id not in stored])

    async def lock_contacts(self, conn: asyncpg.Connection, candidate_ids: Iterable[str]) -> None:
        """Lock these candidates' contact rows (sorted: a steady order) until the transaction ends.

        Taken before the suppressions are read or written, by the handler and by an opt-out alike:
        each then sees what the other committed, and neither waits on the other in reverse order.
        """
        await conn.execute(
            "SELECT 1 FROM contacts WHERE candidate_id = ANY($1::text[]) ORDER BY candidate_id FOR UPDATE",
            sorted(set(candidate_ids)),
        )

    async def record_consent_marks(self, conn: asyncpg.Connection, marks: Iterable[ConsentMark]) -> None:
        """Merge suppressions and re-consents: per (candidate, channel) the newest time of each kind."""
        merged = sorted(merge_marks(marks).items(), key=lambda kv: (kv[0][0], str(kv[0][1])))
        if not merged:
            return
        await conn.execute(
            """
            INSERT INTO consent_suppressions (candidate_id, channel, origin, suppressed_at, lifted_at)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])
            ON CONFLICT (candidate_id, channel) DO UPDATE SET
                origin = CASE
                    WHEN consent_suppressions.suppressed_at IS NULL
                      OR EXCLUDED.suppressed_at > consent_suppressions.suppressed_at
                    THEN coalesce(EXCLUDED.origin, consent_suppressions.origin)
                    ELSE consent_suppressions.origin END,
                suppressed_at = greatest(consent_suppressions.suppressed_at, EXCLUDED.suppressed_at),
                lifted_at = greatest(consent_suppressions.lifted_at, EXCLUDED.lifted_at),
                updated_at = now()
            """,
            [cid for (cid, _), _ in merged],
            [str(ch) for (_, ch), _ in merged],
            [str(r.origin) if r.origin is not None else None for _, r in merged],
            [r.suppressed_at for _, r in merged],
            [r.lifted_at for _, r in merged],
        )

    async def suppressed_channels(
        self, conn: asyncpg.Connection, candidate_ids: Iterable[str]
    ) -> dict[str, dict[Channel, Suppression]]:
        """The active suppressions of these candidates, by candidate and channel."""
        records = await conn.fetch(
            f"SELECT * FROM consent_suppressions s WHERE s.candidate_id = ANY($1::text[]) AND {_ACTIVE}",
            sorted(set(candidate_ids)),
        )
        found: dict[str, dict[Channel, Suppression]] = {}
        for r in records:
            origin = ConsentOrigin(r["origin"]) if r["origin"] is not None else None
            found.setdefault(r["candidate_id"], {})[Channel(r["channel"])] = Suppression(
                r["suppressed_at"], r["lifted_at"], origin
            )
        return found

    async def refresh_channels(
        self, conn: asyncpg.Connection, candidate_ids: Iterable[str]
    ) -> dict[str, frozenset[Channel]]:
        """Set each contact's usable channels to what its state claims minus its active suppressions.

        Returns, per candidate whose state claims a suppressed channel, the channels kept off. The
        caller holds the rows' locks (`lock_contacts`, taken before the suppressions were touched),
        so this statement sees an opt-out committed meanwhile; a row whose channels do not change
        is not written.
        """
        ids = sorted(set(candidate_ids))
        if not ids:
            return {}
        records = await conn.fetch(
            f"""
            WITH wanted AS (
                SELECT c.candidate_id, c.claimed_channels, {_REACHABLE_STORED} AS channels
                FROM contacts c WHERE c.candidate_id = ANY($1::text[])
            ), changed AS (  -- run once whether read or not (a data-modifying WITH)
                UPDATE contacts c SET channels = w.channels
                FROM wanted w
                WHERE c.candidate_id = w.candidate_id AND c.channels IS DISTINCT FROM w.channels
            )
            SELECT w.candidate_id, w.claimed_channels, w.channels
            FROM wanted w
            WHERE NOT (w.claimed_channels <@ w.channels)
            """,
            ids,
        )
        kept_off: dict[str, frozenset[Channel]] = {}
        for r in records:
            off = frozenset(Channel(ch) for ch in r["claimed_channels"]) - {
                Channel(ch) for ch in r["channels"]
            }
            if off:
                kept_off[r["candidate_id"]] = off
        return kept_off

    async def candidates_with_phone(self, conn: asyncpg.Connection, phone: str) -> list[str]:
        """Candidates reachable at this phone number (a family may share one)."""
        rows = await conn.fetch(
            "SELECT candidate_id FROM contacts WHERE phone_index = ANY($1::text[])",
            self.cipher.phone_lookups(phone),
        )
        return [r["candidate_id"] for r in rows]

    async def reseal_contacts(self, conn: asyncpg.Connection, batch: int = 500) -> int:
        """Seal contacts stored in clear or under an older key with the current key; how many were.

        All on the caller's connection; `reseal_batch` does one batch (one short transaction each).
        """
        resealed = 0
        after: str | None = ""
        while after is not None:
            done, after = await self.reseal_batch(conn, after, batch)
            resealed += done
        return resealed

    async def reseal_batch(
        self, conn: asyncpg.Connection, after: str, batch: int = 500
    ) -> tuple[int, str | None]:
        """`reseal_contacts` for the next `batch` contacts after the id `after`: how many were resealed,
        and the id to go on after (None once every contact was looked at)."""
        records = await conn.fetch(
            "SELECT * FROM contacts WHERE candidate_id > $1 ORDER BY candidate_id LIMIT $2 FOR UPDATE",
            after,
            batch,
        )
        if not records:
            return 0, None
        stale = [r for r in records if any(self.cipher.needs_reseal(r[f]) for f in _SEALED)]
        contacts = [_contact_of(r, self.cipher, r["candidate_id"]) for r in stale]
        await conn.executemany(
            "UPDATE contacts SET email = $2, phone = $3, phone_index = $4, first_name = $5 WHERE candidate_id = $1",
            [
                (
                    c.candidate_id,
                    self.cipher.seal(c.email, c.candidate_id, "email"),
                    self.cipher.seal(c.phone, c.candidate_id, "phone"),
                    self.cipher.phone_index(c.phone),
                    self.cipher.seal(c.first_name, c.candidate_id, "first_name"),
                )
                for c in contacts
            ],
        )
        return len(contacts), records[-1]["candidate_id"]

    async def erase(self, conn: asyncpg.Connection, candidate_id: str, now: datetime) -> int:
        """Erasure: delete the contact, suppress (`erased`) what was still to send, wipe payloads.

        Rows stay with ids only (no personal data): they keep the at-most-once guarantee.
        Returns how many unsent notifications were suppressed.
        """
        await conn.execute("DELETE FROM contacts WHERE candidate_id = $1", candidate_id)
        await conn.execute("DELETE FROM consent_suppressions WHERE candidate_id = $1", candidate_id)
        # An opt-out restatement not published yet carries the contact: published after the
        # tombstone, it would bring the person back on the topic.
        await conn.execute(
            "DELETE FROM outcome_events WHERE event->>'type' = $2 AND event->>'subject' = $1",
            candidate_id,
            ev.ConsentUpdated.TYPE,
        )
        records = await conn.fetch(
            """
            UPDATE outbox SET state = 'suppressed', why = 'erased', lease_until = NULL
            WHERE recipient_id = $1 AND recipient_kind = 'candidate' AND state IN ('pending', 'held', 'sending')
            RETURNING id, recipient_id, channel, purpose, about_id
            """,
            candidate_id,
        )
        await self.queue_events(
            conn, [self.events.suppressed(dict(r), now, SuppressionReason.ERASED) for r in records]
        )
        if await self._pseudonymize_outbox(conn, candidate_id):
            # After their `notification.*` facts (the suppressions just queued included): compaction
            # removes every record about them from `notifications`, which is keyed by recipient.
            await self.queue_tombstone(conn, str(Topic.NOTIFICATIONS), candidate_id)
        return len(records)

    async def _pseudonymize_outbox(self, conn: asyncpg.Connection, candidate_id: str) -> int:
        """Keep a candidate's outbox rows (at most once) under their pseudonym, payload emptied; how many.

        `related_id` (a match id embeds the candidate id) becomes a pseudonym too. A row that an
        earlier erasure already kept under the pseudonym (the same notification planned again
        since) is deleted instead.
        """
        rows = await conn.fetch(
            "SELECT id, related_id FROM outbox WHERE recipient_id = $1 AND recipient_kind = 'candidate'",
            candidate_id,
        )
        if not rows:
            return 0
        await conn.execute(
            """
            UPDATE outbox o SET recipient_id = $1, payload = '{}'::jsonb, related_id = k.related
            FROM unnest($2::uuid[], $3::text[]) AS k(id, related)
            WHERE o.id = k.id AND NOT EXISTS (
                SELECT 1 FROM outbox x
                WHERE (x.recipient_id, x.channel, x.purpose, x.about_id, x.about_version)
                    = ($1, o.channel, o.purpose, o.about_id, o.about_version)
            )
            """,
            self.pseudonyms.candidate(candidate_id),
            [r["id"] for r in rows],
            [
                None if r["related_id"] is None else self.pseudonyms.of("related", r["related_id"])
                for r in rows
            ],
        )
        await conn.execute(
            "DELETE FROM outbox WHERE recipient_id = $1 AND recipient_kind = 'candidate'", candidate_id
        )
        return len(rows)

    # --- read models -------------------------------------------------------------------------

    async def save_establishment(self, conn: asyncpg.Connection, data: p.Establishment) -> None:
        """Keep an establishment's name and tutor address (newest version wins)."""
        await conn.execute(
            """
            INSERT INTO establishments (id, name, commune_insee, address, tutor_email, version)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (id) DO UPDATE SET name = $2, commune_insee = $3, address = $4, tutor_email = $5, version = $6
            WHERE establishments.version <= $6
            """,
            data.id,
            data.name,
            data.commune_insee,
            data.address,
            str(data.immersion_contact_email) if data.immersion_contact_email else None,
            data.version,
        )

    async def save_slot(self, conn: asyncpg.Connection, data: p.ImmersionSlot) -> None:
        """Keep an immersion slot's essentials (newest version wins)."""
        await conn.execute(
            """
            INSERT INTO immersion_slots (id, establishment_id, establishment_name, title, rome_code, commune_insee, tutor_name, version)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (id) DO UPDATE SET establishment_id = $2, establishment_name = $3, title = $4,
                rome_code = $5, commune_insee = $6, tutor_name = $7, version = $8
            WHERE immersion_slots.version <= $8
            """,
            data.id,
            data.establishment.id,
            data.establishment.name,
            data.title,
            data.rome_code,
            data.commune_insee,
            data.tutor_name,
            data.version,
        )

    async def slot_snapshot(
        self, conn: asyncpg.Connection, slot_id: str, places_left: int | None
    ) -> dict[str, Any] | None:
        """What booking notifications show of a slot (and of its establishment's address)."""
        record = await conn.fetchrow(
            """
            SELECT s.title, s.establishment_name, s.commune_insee, s.tutor_name, s.rome_code, e.address
            FROM immersion_slots s LEFT JOIN establishments e ON e.id = s.establishment_id
            WHERE s.id = $1
            """,
            slot_id,
        )
        return None if record is None else _slot_snapshot(record, "", places_left)

    # --- outbox: planning --------------------------------------------------------------------

    async def plan(self, conn: asyncpg.Connection, rows: Sequence[PlannedNotification], now: datetime) -> int:
        """Insert planned rows; existing keys are kept (at most once), except a match withdrawn
        before it was sent, which a new match-found revives. Returns how many rows were added.
        """
        added = 0
        suppressed: list[AnyEvent] = []
        for row in rows:
            state = (
                OutboxState.SUPPRESSED
                if row.suppressed_why
                else (OutboxState.HELD if row.held else OutboxState.PENDING)
            )
            record = await conn.fetchrow(
                """
                INSERT INTO outbox (id, recipient_id, recipient_kind, channel, purpose, about_id, about_version,
                                    related_id, payload, critical, state, not_before, why, created_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13, $14)
                ON CONFLICT (recipient_id, channel, purpose, about_id, about_version) DO UPDATE
                    SET state = EXCLUDED.state, not_before = EXCLUDED.not_before, payload = EXCLUDED.payload,
                        related_id = EXCLUDED.related_id, why = EXCLUDED.why, created_at = EXCLUDED.created_at
                    WHERE outbox.state = 'suppressed' AND outbox.why = 'withdrawn' AND EXCLUDED.state <> 'suppressed'
                RETURNING id, recipient_id, channel, purpose, about_id
                """,
                uuid.uuid4(),
                row.recipient_id,
                str(row.recipient_kind),
                str(row.channel),
                str(row.purpose),
                row.about_id,
                row.about_version,
                row.related_id,
                row.payload,
                row.critical,
                str(state),
                row.not_before,
                row.suppressed_why,
                now,
            )
            if record is None:
                continue
            added += 1
            if row.suppressed_why:
                suppressed.append(
                    self.events.suppressed(dict(record), now, SuppressionReason(row.suppressed_why))
                )
        await self.queue_events(conn, suppressed)
        return added

    async def plan_many(
        self, conn: asyncpg.Connection, rows: Sequence[PlannedNotification], now: datetime
    ) -> int:
        """`plan` in one multi-row statement. The rows' keys must be distinct (`core.batches.MatchStep`).

        Same rule: existing keys are kept, except a withdrawn match, which a new match revives.
        Returns how many rows were added or revived.
        """
        if not rows:
            return 0
        records = await conn.fetch(
            """
            INSERT INTO outbox (id, recipient_id, recipient_kind, channel, purpose, about_id, about_version,
                                related_id, payload, critical, state, not_before, why, created_at)
            SELECT r.id, r.recipient_id, r.recipient_kind, r.channel, r.purpose, r.about_id, r.about_version,
                   r.related_id, r.payload::jsonb, r.critical, r.state, r.not_before, r.why, $14
            FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[],
                        $8::text[], $9::text[], $10::bool[], $11::text[], $12::timestamptz[], $13::text[])
                 AS r(id, recipient_id, recipient_kind, channel, purpose, about_id, about_version,
                      related_id, payload, critical, state, not_before, why)
            ON CONFLICT (recipient_id, channel, purpose, about_id, about_version) DO UPDATE
                SET state = EXCLUDED.state, not_before = EXCLUDED.not_before, payload = EXCLUDED.payload,
                    related_id = EXCLUDED.related_id, why = EXCLUDED.why, created_at = EXCLUDED.created_at
                WHERE outbox.state = 'suppressed' AND outbox.why = 'withdrawn' AND EXCLUDED.state <> 'suppressed'
            RETURNING id, recipient_id, channel, purpose, about_id, why
            """,
            [uuid.uuid4() for _ in rows],
            [r.recipient_id for r in rows],
            [str(r.recipient_kind) for r in rows],
            [str(r.channel) for r in rows],
            [str(r.purpose) for r in rows],
            [r.about_id for r in rows],
            [r.about_version for r in rows],
            [r.related_id for r in rows],
            [orjson.dumps(r.payload).decode() for r in rows],
            [r.critical for r in rows],
            [str(_state_of(r)) for r in rows],
            [r.not_before for r in rows],
            [r.suppressed_why for r in rows],
            now,
        )
        # A revived row never comes back suppressed, so `why` is set only on new suppressed rows.
        suppressed = [
            self.events.suppressed(
                {k: r[k] for k in ("id", "recipient_id", "channel", "purpose", "about_id")},
                now,
                SuppressionReason(r["why"]),
            )
            for r in records
            if r["why"] is not None
        ]
        await self.queue_events(conn, suppressed)
        return len(records)

    async def withdraw_many(
        self,
        conn: asyncpg.Connection,
        pairs: Sequence[tuple[str, str]],
        purposes: Sequence[NotificationPurpose],
        now: datetime,
    ) -> int:
        """Suppress (`withdrawn`) what is not sent yet about these (recipient, subject) pairs (one statement).

        A row already gathered into a digest that is not sent yet leaves that digest too: its item
        is taken out and the count lowered, and a digest left empty is suppressed.
        """
        if not pairs:
            return 0
        recipients, subjects = [r for r, _ in pairs], [a for _, a in pairs]
        # Lock the unsent digests holding such rows first: the worker (SKIP LOCKED) cannot start
        # sending one while its items are taken out.
        await conn.execute(
            """
            SELECT d.id FROM outbox d
            WHERE d.state IN ('pending', 'held') AND d.id IN (
                SELECT o.digest_id FROM outbox o
                JOIN unnest($1::text[], $2::text[]) AS w(recipient_id, about_id)
                  ON o.recipient_id = w.recipient_id AND o.about_id = w.about_id
                WHERE o.state = 'digested' AND o.purpose = ANY($3::text[]))
            ORDER BY d.id
            FOR UPDATE OF d
            """,
            recipients,
            subjects,
            [str(x) for x in purposes],
        )
        records = await conn.fetch(
            """
            UPDATE outbox o SET state = 'suppressed', why = 'withdrawn'
            FROM unnest($1::text[], $2::text[]) AS w(recipient_id, about_id)
            WHERE o.recipient_id = w.recipient_id AND o.about_id = w.about_id
              AND o.purpose = ANY($3::text[])
              AND (o.state IN ('pending', 'held')
                   OR (o.state = 'digested' AND EXISTS (
                       SELECT 1 FROM outbox d WHERE d.id = o.digest_id AND d.state IN ('pending', 'held'))))
            RETURNING o.id, o.recipient_id, o.channel, o.purpose, o.about_id, o.digest_id, o.payload
            """,
            recipients,
            subjects,
            [str(x) for x in purposes],
        )
        suppressed = [
            {k: r[k] for k in ("id", "recipient_id", "channel", "purpose", "about_id")} for r in records
        ]
        suppressed += await self._leave_digests(conn, [r for r in records if r["digest_id"] is not None])
        await self.queue_events(
            conn, [self.events.suppressed(r, now, SuppressionReason.WITHDRAWN) for r in suppressed]
        )
        return len(records)

    async def _leave_digests(
        self, conn: asyncpg.Connection, left: Sequence[asyncpg.Record]
    ) -> list[dict[str, Any]]:
        """Take withdrawn rows out of their unsent digests; suppress the digests left empty (returned)."""
        if not left:
            return []
        await conn.execute(
            """
            UPDATE outbox d
            SET payload = jsonb_set(
                    jsonb_set(d.payload, '{items}', coalesce(
                        (SELECT jsonb_agg(i) FROM jsonb_array_elements(d.payload -> 'items') AS i
                         WHERE i <> ALL (g.items)), '[]'::jsonb)),
                    '{count}', to_jsonb(greatest((d.payload ->> 'count')::int - g.n, 0)))
            FROM (
                SELECT l.digest_id, array_agg(l.payload) AS items, count(*)::int AS n
                FROM unnest($1::uuid[], $2::jsonb[]) AS l(digest_id, payload)
                GROUP BY l.digest_id
            ) AS g
            WHERE d.id = g.digest_id AND d.state IN ('pending', 'held')
            """,
            [r["digest_id"] for r in left],
            [r["payload"] for r in left],
        )
        emptied = await conn.fetch(
            """
            UPDATE outbox SET state = 'suppressed', why = 'withdrawn'
            WHERE id = ANY($1::uuid[]) AND state IN ('pending', 'held') AND (payload ->> 'count')::int <= 0
            RETURNING id, recipient_id, channel, purpose, about_id
            """,
            list({r["digest_id"] for r in left}),
        )
        return [dict(r) for r in emptied]

    async def withdraw_related(
        self,
        conn: asyncpg.Connection,
        related_id: str,
        purposes: Sequence[NotificationPurpose],
        now: datetime,
    ) -> int:
        """Suppress (`withdrawn`) unsent rows of every recipient about a request (e.g. a cancelled booking)."""
        records = await conn.fetch(
            """
            UPDATE outbox SET state = 'suppressed', why = 'withdrawn'
            WHERE related_id = $1 AND purpose = ANY($2::text[]) AND state IN ('pending', 'held')
            RETURNING id, recipient_id, channel, purpose, about_id
            """,
            related_id,
            [str(x) for x in purposes],
        )
        await self.queue_events(
            conn, [self.events.suppressed(dict(r), now, SuppressionReason.WITHDRAWN) for r in records]
        )
        return len(records)

    # --- outbox: digests ---------------------------------------------------------------------

    async def due_held(self, conn: asyncpg.Connection, now: datetime, limit: int) -> list[HeldRow]:
        """Held match rows whose digest time has come, locked for this transaction."""
        records = await conn.fetch(
            """
            SELECT id, recipient_id, channel, payload FROM outbox
            WHERE state = 'held' AND not_before <= $1
            ORDER BY recipient_id, channel LIMIT $2 FOR UPDATE SKIP LOCKED
            """,
            now,
            limit,
        )
        return [
            HeldRow(str(r["id"]), r["recipient_id"], Channel(r["channel"]), r["payload"]) for r in records
        ]

    async def save_digest(self, conn: asyncpg.Connection, digest: Digest, now: datetime) -> None:
        """Insert the digest row (a later one the same day gets the next version) and mark its rows."""
        version = await conn.fetchval(
            """
            SELECT coalesce(max(about_version), 0) + 1 FROM outbox
            WHERE recipient_id = $1 AND channel = $2 AND purpose = 'digest' AND about_id = $3
            """,
            digest.recipient_id,
            str(digest.channel),
            digest.about_id,
        )
        digest_id = uuid.uuid4()
        await conn.execute(
            """
            INSERT INTO outbox (id, recipient_id, recipient_kind, channel, purpose, about_id, about_version,
                                payload, state, not_before, created_at)
            VALUES ($1, $2, 'candidate', $3, 'digest', $4, $5, $6::jsonb, 'pending', $7, $7)
            """,
            digest_id,
            digest.recipient_id,
            str(digest.channel),
            digest.about_id,
            version,
            digest.payload,
            now,
        )
        await conn.execute(
            "UPDATE outbox SET state = 'digested', digest_id = $1 WHERE id = ANY($2::uuid[])",
            digest_id,
            [uuid.UUID(i) for i in digest.row_ids],
        )

    # --- outbox: sending ---------------------------------------------------------------------

    async def due(self, conn: asyncpg.Connection, now: datetime, limit: int) -> list[OutboxRow]:
        """Due pending rows with their recipient's contact or host address, locked (SKIP LOCKED)."""
        records = await conn.fetch(
            """
            SELECT o.id, o.recipient_id, o.recipient_kind, o.channel, o.purpose, o.about_id, o.payload,
                   o.critical, o.attempts, o.created_at, o.attempt_id,
                   c.email AS c_email, c.phone AS c_phone, c.channels AS c_channels, c.digest AS c_digest,
                   c.urgent_shift_sms AS c_urgent_shift_sms, c.first_name AS c_first_name,
                   c.language AS c_language, c.version AS c_version,
                   e.tutor_email, g.first_name AS guest_first_name,
                   s.title AS s_title, s.establishment_name AS s_establishment_name,
                   s.commune_insee AS s_commune_insee, s.tutor_name AS s_tutor_name,
                   s.rome_code AS s_rome_code, se.address AS s_address
            FROM outbox o
            LEFT JOIN contacts c ON o.recipient_kind = 'candidate' AND c.candidate_id = o.recipient_id
            LEFT JOIN establishments e ON o.recipient_kind = 'establishment' AND e.id = o.recipient_id
            LEFT JOIN contacts g
                   ON o.purpose = 'immersion_booked_host' AND g.candidate_id = o.payload ->> 'candidate_id'
            LEFT JOIN immersion_slots s
                   ON o.purpose = ANY($3::text[]) AND NOT (o.payload ? 'slot') AND s.id = o.payload ->> 'slot_id'
            LEFT JOIN establishments se ON se.id = s.establishment_id
            WHERE o.state = 'pending' AND o.not_before <= $1
            ORDER BY o.not_before
            LIMIT $2
            FOR UPDATE OF o SKIP LOCKED
            """,
            now,
            limit,
            sorted(str(purpose) for purpose in SLOT_PURPOSES),
        )
        return [_row_of(r, self.cipher) for r in records]

    async def lock_recipients(self, conn: asyncpg.Connection, recipient_ids: Iterable[str]) -> None:
        """Serialise cap decisions per recipient across workers (transaction-scoped advisory locks)."""
        ids = sorted(set(recipient_ids))
        if not ids:
            return
        # One statement, the locks taken in the sorted order (no deadlock between workers).
        await conn.execute(
            """
            SELECT pg_advisory_xact_lock(hashtext('notifications-cap:' || r.id))
            FROM (SELECT id FROM unnest($1::text[]) WITH ORDINALITY AS u(id, n) ORDER BY n OFFSET 0) AS r
            """,
            ids,
        )

    async def capped_counts(
        self,
        conn: asyncpg.Connection,
        recipient_ids: Sequence[str],
        purposes: Iterable[NotificationPurpose],
        day: tuple[datetime, datetime],
    ) -> dict[tuple[str, Channel], int]:
        """Capped messages sent (or being sent) today, per recipient and channel."""
        records = await conn.fetch(
            """
            SELECT recipient_id, channel, count(*) AS n FROM outbox
            WHERE recipient_id = ANY($1::text[]) AND purpose = ANY($2::text[]) AND state IN ('sent', 'sending')
              AND claimed_at >= $3 AND claimed_at < $4
            GROUP BY recipient_id, channel
            """,
            list(recipient_ids),
            [str(x) for x in purposes],
            day[0],
            day[1],
        )
        return {(r["recipient_id"], Channel(r["channel"])): r["n"] for r in records}

    async def mark_sending(
        self, conn: asyncpg.Connection, rows: Sequence[OutboxRow], now: datetime, lease_until: datetime
    ) -> list[tuple[str, int]]:
        """Claim rows (locked by `due`) for one attempt each; returns (attempt id, attempt number) per row."""
        claims = [(uuid.uuid4(), row.attempts + 1) for row in rows]
        if rows:
            await conn.execute(
                """
                UPDATE outbox o SET state = 'sending', attempt_id = c.attempt_id, attempts = c.attempts,
                    claimed_at = $4, lease_until = $5
                FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS c(id, attempt_id, attempts)
                WHERE o.id = c.id
                """,
                [uuid.UUID(row.id) for row in rows],
                [attempt_id for attempt_id, _ in claims],
                [attempts for _, attempts in claims],
                now,
                lease_until,
            )
        return [(str(attempt_id), attempts) for attempt_id, attempts in claims]

    async def defer(
        self, conn: asyncpg.Connection, row_id: str, until: datetime, *, hold: bool = False
    ) -> None:
        """Leave a row for later (outside the window, contact not known yet, or held for the digest)."""
        await conn.execute(
            "UPDATE outbox SET not_before = $2, state = $3 WHERE id = $1",
            uuid.UUID(row_id),
            until,
            "held" if hold else "pending",
        )

    async def wake(
        self, conn: asyncpg.Connection, recipient_id: str, kind: RecipientKind, now: datetime
    ) -> int:
        """Make a recipient's unsent, never attempted rows due now (their contact just arrived).

        A row whose contact was unknown waits `contact_grace / 10` before its next decision; the
        contact, on another topic, often comes a few milliseconds after the match. Rows deferred
        for another reason (SMS window) are simply decided again. Reminders are left alone: they
        wait for the day before the immersion on purpose (the only rows planned for later).
        """
        status: str = await conn.execute(
            """
            UPDATE outbox SET not_before = $3
            WHERE recipient_id = $1 AND recipient_kind = $2 AND state = 'pending' AND attempts = 0
              AND not_before > $3 AND purpose <> 'immersion_reminder'
            """,
            recipient_id,
            str(kind),
            now,
        )
        return int(status.split()[-1])

    async def wake_many(
        self, conn: asyncpg.Connection, recipient_ids: Sequence[str], kind: RecipientKind, now: datetime
    ) -> int:
        """`wake` for many recipients in one statement."""
        if not recipient_ids:
            return 0
        status: str = await conn.execute(
            """
            UPDATE outbox SET not_before = $3
            WHERE recipient_id = ANY($1::text[]) AND recipient_kind = $2 AND state = 'pending' AND attempts = 0
              AND not_before > $3 AND purpose <> 'immersion_reminder'
            """,
            sorted(set(recipient_ids)),
            str(kind),
            now,
        )
        return int(status.split()[-1])

    async def suppress(
        self, conn: asyncpg.Connection, row: OutboxRow, why: SuppressionReason, now: datetime
    ) -> None:
        """Do not send this row, and say why."""
        await conn.execute(
            "UPDATE outbox SET state = 'suppressed', why = $2, lease_until = NULL WHERE id = $1",
            uuid.UUID(row.id),
            str(why),
        )
        await self.queue_events(conn, [self.events.suppressed(row, now, why)])

    async def mark_sent(
        self,
        conn: asyncpg.Connection,
        row: OutboxRow,
        attempt_id: str,
        attempts: int,
        provider_id: str | None,
        now: datetime,
    ) -> bool:
        """Record the provider's acceptance, if this attempt still owns the row; queue the fact."""
        updated = await conn.fetchval(
            """
            UPDATE outbox SET state = 'sent', sent_at = $3, provider_message_id = $4, lease_until = NULL, last_error = NULL
            WHERE id = $1 AND attempt_id = $2 AND state = 'sending' RETURNING true
            """,
            uuid.UUID(row.id),
            uuid.UUID(attempt_id),
            now,
            provider_id,
        )
        if updated:
            await self.queue_events(conn, [self.events.sent(row, now, provider_id, attempts)])
        return bool(updated)

    async def mark_sent_many(
        self,
        conn: asyncpg.Connection,
        sent: Sequence[tuple[OutboxRow, str, int, str | None]],
        now: datetime,
    ) -> list[bool]:
        """`mark_sent` for many (row, attempt id, attempt number, provider id) in one statement.

        Returns, per item, whether it was recorded (the attempt still owned its row).
        """
        if not sent:
            return []
        records = await conn.fetch(
            """
            UPDATE outbox o SET state = 'sent', sent_at = $4, provider_message_id = s.provider_id,
                lease_until = NULL, last_error = NULL
            FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS s(id, attempt_id, provider_id)
            WHERE o.id = s.id AND o.attempt_id = s.attempt_id AND o.state = 'sending'
            RETURNING o.id
            """,
            [uuid.UUID(row.id) for row, _, _, _ in sent],
            [uuid.UUID(attempt_id) for _, attempt_id, _, _ in sent],
            [provider_id for _, _, _, provider_id in sent],
            now,
        )
        done = {str(r["id"]) for r in records}
        recorded = [row.id in done for row, _, _, _ in sent]
        await self.queue_events(
            conn,
            [
                self.events.sent(row, now, provider_id, attempts)
                for (row, _, attempts, provider_id), ok in zip(sent, recorded, strict=True)
                if ok
            ],
        )
        return recorded

    async def mark_failed(
        self,
        conn: asyncpg.Connection,
        row: OutboxRow,
        attempt_id: str,
        attempts: int,
        error: str,
        now: datetime,
        retry_at: datetime | None,
    ) -> bool:
        """A failed attempt: back to pending at `retry_at`, or failed for good when it is None."""
        updated = await conn.fetchval(
            """
            UPDATE outbox SET state = $3, not_before = coalesce($4, not_before), last_error = $5, lease_until = NULL
            WHERE id = $1 AND attempt_id = $2 AND state = 'sending' RETURNING true
            """,
            uuid.UUID(row.id),
            uuid.UUID(attempt_id),
            "pending" if retry_at is not None else "failed",
            retry_at,
            error[:1000],
        )
        if updated:
            event = self.events.failed(
                row, now, error, permanent=retry_at is None, attempts=attempts, next_at=retry_at
            )
            await self.queue_events(conn, [event])
        return bool(updated)

    async def release_expired(self, conn: asyncpg.Connection, now: datetime, limit: int = 500) -> int:
        """Rows whose sender died mid-attempt go back to pending; the next attempt checks the provider first."""
        result = await conn.fetch(
            """
            UPDATE outbox SET state = 'pending', not_before = $1, lease_until = NULL, last_error = 'attempt interrupted'
            WHERE id IN (SELECT id FROM outbox WHERE state = 'sending' AND lease_until <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)
            RETURNING id
            """,
            now,
            limit,
        )
        return len(result)

    async def depth(self, conn: asyncpg.Connection) -> dict[str, int]:
        """Rows per unfinished state (queue depth)."""
        records = await conn.fetch(
            "SELECT state, count(*) AS n FROM outbox WHERE state IN ('pending', 'held', 'sending') GROUP BY state"
        )
        found = {r["state"]: int(r["n"]) for r in records}
        return {state: found.get(state, 0) for state in ("pending", "held", "sending")}
