"""In-memory fakes of the ports (repositories, unit of work, publisher, senders, metrics, clock), with the
SQL's rules: checked against PostgreSQL by `tests/test_repositories_contract.py`."""

from __future__ import annotations

import copy
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.vocabulary import (
    Channel,
    ConsentOrigin,
    NotificationPurpose,
    SuppressionReason,
)
from vocation_shared.facts import Tombstone
from vocation_shared.postgres.outbox import QueuedFact, publish_in_order
from vocation_shared.pseudonyms import PREFIX as PSEUDONYM_PREFIX
from vocation_shared.pseudonyms import Pseudonymizer
from vocation_shared.testing.transaction import FakeTransaction

from vocation_notifications.core.applications import departement_of, recruiting_columns, shared_contact
from vocation_notifications.core.consent import ConsentMark, Suppression, merge_marks
from vocation_notifications.core.digest import Digest, HeldRow
from vocation_notifications.core.model import (
    Contact,
    NotificationRef,
    OutboxRow,
    PlannedNotification,
    RecipientKind,
)
from vocation_notifications.core.policy import GUEST_PURPOSES, PROMPT_PURPOSES, SLOT_PURPOSES
from vocation_notifications.ports import DeliveryError, EmailMessage, Receipt, SmsMessage


class FakeClock:
    """A clock that stays where it is told."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        """The time it was set to."""
        return self._now

    def set(self, now: datetime) -> None:
        """Jump to `now`."""
        self._now = now

    def advance(self, **delta: float) -> None:
        """Move forward, e.g. `advance(minutes=5)`."""
        self._now += timedelta(**delta)


@dataclass
class FakeDatabase:
    """The state the fake repositories share, with the SQL's rules; `calls` logs what was asked."""

    contacts: dict[str, Contact] = field(default_factory=dict)
    claimed: dict[str, frozenset[Channel]] = field(default_factory=dict)
    """What each contact's partner claims (`contacts.channels` is that minus the suppressions)."""
    suppressions: dict[tuple[str, Channel], Suppression] = field(default_factory=dict)
    establishments: dict[str, dict[str, Any]] = field(default_factory=dict)
    slots: dict[str, dict[str, Any]] = field(default_factory=dict)
    vacancies: dict[str, dict[str, Any]] = field(default_factory=dict)
    outbox: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Outbox rows by id (a str uuid), with the table's columns."""
    queued: list[tuple[int, QueuedFact]] = field(default_factory=list)
    processed: set[tuple[str, str, str]] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)
    next_seq: int = 1
    commits: int = 0
    failing_commits: list[Exception] = field(default_factory=list)
    """Errors the next commits raise (the database gone): the unit of work is rolled back."""

    def rows_of(self, recipient_id: str) -> list[dict[str, Any]]:
        """A recipient's outbox rows."""
        return [r for r in self.outbox.values() if r["recipient_id"] == recipient_id]

    def events(self) -> list[AnyEvent]:
        """The events queued and not published yet, in order."""
        return [e for _, e in self.queued if not isinstance(e, Tombstone)]

    def tombstones(self) -> list[Tombstone]:
        """The tombstones queued and not published yet, in order."""
        return [e for _, e in self.queued if isinstance(e, Tombstone)]


def _ref(row: dict[str, Any], why: SuppressionReason | None = None) -> NotificationRef:
    return NotificationRef(
        row["id"],
        row["recipient_id"],
        Channel(row["channel"]),
        NotificationPurpose(row["purpose"]),
        row["about_id"],
        why,
    )


class FakeContacts:
    """The `Contacts` port in memory."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    async def get(self, candidate_id: str) -> Contact | None:
        self._db.calls.append("get")
        return self._db.contacts.get(candidate_id)

    async def get_many(self, candidate_ids: Iterable[str]) -> dict[str, Contact]:
        self._db.calls.append("get_many")
        return {i: self._db.contacts[i] for i in set(candidate_ids) if i in self._db.contacts}

    async def save_many(self, contacts: Sequence[Contact]) -> list[str]:
        self._db.calls.append("save_many")
        applied = []
        for c in sorted(contacts, key=lambda c: c.candidate_id):
            stored = self._db.contacts.get(c.candidate_id)
            if stored is None or stored.version <= c.version:
                self._db.claimed[c.candidate_id] = c.channels
                self._db.contacts[c.candidate_id] = replace(
                    c, channels=c.channels - self._off(c.candidate_id)
                )
                applied.append(c.candidate_id)
        return applied

    def _off(self, candidate_id: str) -> frozenset[Channel]:
        return frozenset(
            ch for (cid, ch), s in self._db.suppressions.items() if cid == candidate_id and s.active
        )

    async def add_missing(self, contacts: Sequence[Contact]) -> list[str]:
        self._db.calls.append("add_missing")
        return await self.save_many([c for c in contacts if c.candidate_id not in self._db.contacts])

    async def lock(self, candidate_ids: Iterable[str]) -> None:
        self._db.calls.append("lock")

    async def record_consent_marks(self, marks: Iterable[ConsentMark]) -> None:
        self._db.calls.append("record_consent_marks")
        for key, merged in merge_marks(marks).items():
            old = self._db.suppressions.get(key)
            if old is None:
                self._db.suppressions[key] = merged
                continue
            newer = old.suppressed_at is None or (
                merged.suppressed_at is not None and merged.suppressed_at > old.suppressed_at
            )
            self._db.suppressions[key] = Suppression(
                _latest(old.suppressed_at, merged.suppressed_at),
                _latest(old.lifted_at, merged.lifted_at),
                (merged.origin or old.origin) if newer else old.origin,
            )

    async def suppressed_channels(
        self, candidate_ids: Iterable[str]
    ) -> dict[str, dict[Channel, Suppression]]:
        ids = set(candidate_ids)
        found: dict[str, dict[Channel, Suppression]] = {}
        for (cid, ch), record in self._db.suppressions.items():
            if cid in ids and record.active:
                found.setdefault(cid, {})[ch] = record
        return found

    async def refresh_channels(self, candidate_ids: Iterable[str]) -> dict[str, frozenset[Channel]]:
        self._db.calls.append("refresh_channels")
        kept_off: dict[str, frozenset[Channel]] = {}
        for cid in sorted(set(candidate_ids)):
            if cid not in self._db.contacts:
                continue
            claimed = self._db.claimed.get(cid, self._db.contacts[cid].channels)
            off = claimed & self._off(cid)
            self._db.contacts[cid] = replace(self._db.contacts[cid], channels=claimed - off)
            if off:
                kept_off[cid] = off
        return kept_off

    async def with_phone(self, phone: str) -> list[str]:
        return [c.candidate_id for c in self._db.contacts.values() if c.phone == phone]

    async def reseal_batch(self, after: str, batch: int = 500) -> tuple[int, str | None]:
        ids = sorted(i for i in self._db.contacts if i > after)[:batch]
        return 0, (ids[-1] if ids else None)  # nothing sealed in memory: nothing to reseal

    async def erase(self, candidate_id: str) -> None:
        self._db.calls.append("erase")
        self._db.contacts.pop(candidate_id, None)
        self._db.claimed.pop(candidate_id, None)
        for key in [k for k in self._db.suppressions if k[0] == candidate_id]:
            del self._db.suppressions[key]


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _offer_columns(data: p.Vacancy | p.ImmersionSlot) -> dict[str, Any]:
    """What the snapshots keep of any offer: its site, title, commune and version."""
    return {
        "establishment_id": data.establishment.id,
        "establishment_name": data.establishment.name,
        "title": data.title,
        "commune_insee": data.commune_insee,
        "version": data.version,
    }


class FakeSnapshots:
    """The `Snapshots` port in memory."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    @staticmethod
    def _newest(table: dict[str, dict[str, Any]], entity_id: str, row: dict[str, Any]) -> None:
        """Keep `row` unless a newer version is stored (equal wins), as the SQL's upserts."""
        stored = table.get(entity_id)
        if stored is None or stored["version"] <= row["version"]:
            table[entity_id] = row

    async def save_establishment(self, data: p.Establishment) -> None:
        email = data.immersion_contact_email
        row = {
            "name": data.name,
            "commune_insee": data.commune_insee,
            "address": data.address,
            "tutor_email": str(email) if email else None,
            "recruiting": recruiting_columns(data.recruiting_contact),
            "version": data.version,
        }
        self._newest(self._db.establishments, data.id, row)

    async def save_vacancy(self, data: p.Vacancy) -> None:
        row = {
            **_offer_columns(data),
            "application_url": str(data.application_url) if data.application_url else None,
            "recruiting": recruiting_columns(data.recruiting_contact),
        }
        self._newest(self._db.vacancies, data.id, row)

    async def vacancy_departement(self, vacancy_id: str) -> str | None:
        vacancy = self._db.vacancies.get(vacancy_id)
        if vacancy is None:
            return None
        site = self._db.establishments.get(vacancy["establishment_id"])
        return departement_of(site.get("commune_insee") if site else vacancy["commune_insee"])

    async def save_slot(self, data: p.ImmersionSlot) -> None:
        row = {**_offer_columns(data), "rome_code": data.rome_code, "tutor_name": data.tutor_name}
        self._newest(self._db.slots, data.id, row)

    async def slot_snapshot(self, slot_id: str, places_left: int | None) -> dict[str, Any] | None:
        slot = self._db.slots.get(slot_id)
        if slot is None:
            return None
        host = self._db.establishments.get(slot["establishment_id"])
        fields = ("title", "establishment_name", "commune_insee", "tutor_name", "rome_code")
        return {
            **{k: slot[k] for k in fields},
            "address": host["address"] if host else None,
            "places_left": places_left,
        }


class FakeOutbox:
    """The `Outbox` port in memory (`due` joins the contact, host and slot as the SQL does)."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    def _key(self, row: PlannedNotification) -> tuple[str, str, str, str, int]:
        return (row.recipient_id, str(row.channel), str(row.purpose), row.about_id, row.about_version)

    def _find(self, key: tuple[str, str, str, str, int]) -> dict[str, Any] | None:
        for r in self._db.outbox.values():
            if (r["recipient_id"], r["channel"], r["purpose"], r["about_id"], r["about_version"]) == key:
                return r
        return None

    async def plan(self, rows: Sequence[PlannedNotification], now: datetime) -> list[NotificationRef]:
        self._db.calls.append("plan")
        return self._plan(rows, now)

    async def plan_many(self, rows: Sequence[PlannedNotification], now: datetime) -> list[NotificationRef]:
        self._db.calls.append("plan_many")
        keys = [self._key(r) for r in rows]
        if len(keys) != len(set(keys)):
            raise ValueError("a multi-row insert cannot touch a key twice")
        return self._plan(rows, now)

    def _plan(self, rows: Sequence[PlannedNotification], now: datetime) -> list[NotificationRef]:
        added: list[NotificationRef] = []
        for r in rows:
            state = "suppressed" if r.suppressed_why else ("held" if r.held else "pending")
            existing = self._find(self._key(r))
            if existing is not None and not (
                existing["state"] == "suppressed" and existing["why"] == "withdrawn" and state != "suppressed"
            ):
                continue
            row_id = existing["id"] if existing is not None else str(uuid.uuid4())
            base = existing or {
                "attempts": 0,
                "attempt_id": None,
                "claimed_at": None,
                "lease_until": None,
                "digest_id": None,
                "sent_at": None,
                "provider_message_id": None,
                "last_error": None,
            }
            self._db.outbox[row_id] = {
                **base,
                "id": row_id,
                "recipient_id": r.recipient_id,
                "recipient_kind": str(r.recipient_kind),
                "channel": str(r.channel),
                "purpose": str(r.purpose),
                "about_id": r.about_id,
                "about_version": r.about_version,
                "related_id": r.related_id,
                "payload": dict(r.payload),
                "critical": r.critical if existing is None else existing["critical"],
                "state": state,
                "not_before": r.not_before,
                "why": r.suppressed_why,
                "created_at": now,
            }
            why = SuppressionReason(r.suppressed_why) if r.suppressed_why else None
            added.append(_ref(self._db.outbox[row_id], why))
        return added

    def _unsent_digest(self, digest_id: str | None) -> bool:
        digest = self._db.outbox.get(digest_id) if digest_id else None
        return digest is not None and digest["state"] in ("pending", "held")

    async def withdraw_many(
        self, pairs: Sequence[tuple[str, str]], purposes: Sequence[NotificationPurpose]
    ) -> tuple[int, list[NotificationRef]]:
        self._db.calls.append("withdraw_many")
        wanted, kinds = set(pairs), {str(x) for x in purposes}
        withdrawn = [
            r
            for r in self._db.outbox.values()
            if (r["recipient_id"], r["about_id"]) in wanted
            and r["purpose"] in kinds
            and (
                r["state"] in ("pending", "held")
                or (r["state"] == "digested" and self._unsent_digest(r["digest_id"]))
            )
        ]
        for r in withdrawn:
            r.update(state="suppressed", why="withdrawn")
        refs = [_ref(r, SuppressionReason.WITHDRAWN) for r in withdrawn]
        emptied: list[NotificationRef] = []
        for digest_id in sorted({r["digest_id"] for r in withdrawn if r["digest_id"] is not None}):
            digest = self._db.outbox[digest_id]
            if digest["state"] not in ("pending", "held"):
                continue
            left = [r["payload"] for r in withdrawn if r["digest_id"] == digest_id]
            payload = digest["payload"]
            items = [i for i in payload.get("items", []) if i not in left]
            digest["payload"] = {
                **payload,
                "items": items,
                "count": max(int(payload["count"]) - len(left), 0),
            }
            if digest["payload"]["count"] <= 0:
                digest.update(state="suppressed", why="withdrawn")
                emptied.append(_ref(digest, SuppressionReason.WITHDRAWN))
        return len(withdrawn), refs + emptied

    async def withdraw_related(
        self, related_id: str, purposes: Sequence[NotificationPurpose]
    ) -> list[NotificationRef]:
        kinds = {str(x) for x in purposes}
        refs = []
        for r in self._db.outbox.values():
            if r["related_id"] == related_id and r["purpose"] in kinds and r["state"] in ("pending", "held"):
                r.update(state="suppressed", why="withdrawn")
                refs.append(_ref(r, SuppressionReason.WITHDRAWN))
        return refs

    async def due(self, now: datetime, limit: int) -> list[OutboxRow]:
        due = sorted(
            (r for r in self._db.outbox.values() if r["state"] == "pending" and r["not_before"] <= now),
            key=lambda r: (r["purpose"] not in PROMPT_PURPOSES, r["not_before"]),
        )[:limit]
        return [self._row(r) for r in due]

    def _recruiter(self, offer_id: str) -> tuple[str | None, str | None, str | None] | None:
        """The vacancy's recruiting contact, else its site's (as the SQL's lateral join)."""
        vacancy = self._db.vacancies.get(offer_id)
        if vacancy is None:
            return None
        site = self._db.establishments.get(vacancy["establishment_id"])
        for columns in (vacancy["recruiting"], site.get("recruiting") if site else None):
            if columns is not None and columns[1] is not None:
                name, email, phone = columns
                return name, email, phone
        return None

    def _row(self, r: dict[str, Any]) -> OutboxRow:
        candidate = r["recipient_kind"] == "candidate"
        host = (
            self._db.establishments.get(r["recipient_id"]) if r["recipient_kind"] == "establishment" else None
        )
        guest = None
        if NotificationPurpose(r["purpose"]) in GUEST_PURPOSES:
            guest = self._db.contacts.get(str(r["payload"].get("candidate_id")))
        payload = r["payload"]
        offer_id = str(payload.get("offer_id", ""))
        vacancy = self._db.vacancies.get(offer_id)
        if vacancy is not None:
            shown = ("title", "establishment_name", "commune_insee", "application_url")
            payload = {**payload, "vacancy": {k: vacancy[k] for k in shown}}
        recruiter = self._recruiter(offer_id)
        if recruiter is not None:
            payload = {**payload, "recruiter": dict(zip(("name", "email", "phone"), recruiter, strict=True))}
        if guest is not None:
            payload = {**payload, "shared_contact": shared_contact(payload, guest)}
        address = host["tutor_email"] if host else None
        if r["recipient_kind"] == "recruiter":
            address = recruiter[1] if recruiter else None
        slot_id = payload.get("slot_id")
        if (
            NotificationPurpose(r["purpose"]) in SLOT_PURPOSES
            and "slot" not in payload
            and slot_id in self._db.slots
        ):
            s = self._db.slots[slot_id]
            place = self._db.establishments.get(s["establishment_id"])
            fields = ("title", "establishment_name", "commune_insee", "tutor_name", "rome_code")
            slot = {**{k: s[k] for k in fields}, "address": place["address"] if place else None}
            payload = {**payload, "slot": {**slot, "places_left": payload.get("places_left")}}
        return OutboxRow(
            id=r["id"],
            recipient_id=r["recipient_id"],
            recipient_kind=RecipientKind(r["recipient_kind"]),
            channel=Channel(r["channel"]),
            purpose=NotificationPurpose(r["purpose"]),
            about_id=r["about_id"],
            payload=payload,
            critical=r["critical"],
            attempts=r["attempts"],
            created_at=r["created_at"],
            contact=self._db.contacts.get(r["recipient_id"]) if candidate else None,
            host_address=address,
            attempt_id=r["attempt_id"],
            guest_first_name=guest.first_name if guest else None,
        )

    async def lock_recipients(self, recipient_ids: Iterable[str]) -> None:
        self._db.calls.append("lock_recipients")

    async def capped_counts(
        self,
        recipient_ids: Sequence[str],
        purposes: Iterable[NotificationPurpose],
        day: tuple[datetime, datetime],
    ) -> dict[tuple[str, Channel], int]:
        ids, kinds = set(recipient_ids), {str(x) for x in purposes}
        counts: dict[tuple[str, Channel], int] = {}
        for r in self._db.outbox.values():
            if (
                r["recipient_id"] in ids
                and r["purpose"] in kinds
                and r["state"] in ("sent", "sending")
                and r["claimed_at"] is not None
                and day[0] <= r["claimed_at"] < day[1]
            ):
                key = (r["recipient_id"], Channel(r["channel"]))
                counts[key] = counts.get(key, 0) + 1
        return counts

    async def mark_sending(
        self, rows: Sequence[OutboxRow], now: datetime, lease_until: datetime
    ) -> list[tuple[str, int]]:
        claims = []
        for row in rows:
            attempt = (str(uuid.uuid4()), row.attempts + 1)
            self._db.outbox[row.id].update(
                state="sending",
                attempt_id=attempt[0],
                attempts=attempt[1],
                claimed_at=now,
                lease_until=lease_until,
            )
            claims.append(attempt)
        return claims

    async def defer(self, row_id: str, until: datetime, *, hold: bool = False) -> None:
        self._db.outbox[row_id].update(not_before=until, state="held" if hold else "pending")

    async def wake_many(self, recipient_ids: Sequence[str], kind: RecipientKind, now: datetime) -> int:
        self._db.calls.append("wake_many")
        ids, woken = set(recipient_ids), 0
        for r in self._db.outbox.values():
            if (
                r["recipient_id"] in ids
                and r["recipient_kind"] == str(kind)
                and r["state"] == "pending"
                and r["attempts"] == 0
                and r["not_before"] > now
                and r["purpose"] not in ("immersion_reminder", "application_reminder")
            ):
                r["not_before"] = now
                woken += 1
        return woken

    async def suppress(self, row: OutboxRow, why: SuppressionReason) -> None:
        self._db.outbox[row.id].update(state="suppressed", why=str(why), lease_until=None)

    async def mark_sent_many(
        self, sent: Sequence[tuple[OutboxRow, str, int, str | None]], now: datetime
    ) -> list[bool]:
        recorded = []
        for row, attempt_id, _, provider_id in sent:
            r = self._db.outbox[row.id]
            ok = r["attempt_id"] == attempt_id and r["state"] == "sending"
            if ok:
                r.update(
                    state="sent",
                    sent_at=now,
                    provider_message_id=provider_id,
                    lease_until=None,
                    last_error=None,
                )
            recorded.append(ok)
        return recorded

    async def mark_failed(
        self, row: OutboxRow, attempt_id: str, error: str, retry_at: datetime | None
    ) -> bool:
        r = self._db.outbox[row.id]
        if r["attempt_id"] != attempt_id or r["state"] != "sending":
            return False
        r.update(
            state="pending" if retry_at is not None else "failed",
            not_before=retry_at or r["not_before"],
            last_error=error[:1000],
            lease_until=None,
        )
        return True

    async def release_expired(self, now: datetime, limit: int = 500) -> int:
        expired = [
            r
            for r in self._db.outbox.values()
            if r["state"] == "sending" and r["lease_until"] is not None and r["lease_until"] <= now
        ][:limit]
        for r in expired:
            r.update(state="pending", not_before=now, lease_until=None, last_error="attempt interrupted")
        return len(expired)

    async def depth(self) -> dict[str, int]:
        states = [r["state"] for r in self._db.outbox.values()]
        return {state: states.count(state) for state in ("pending", "held", "sending")}

    async def erase(self, candidate_id: str) -> list[NotificationRef]:
        self._db.calls.append("erase")
        refs = []
        for r in self._db.outbox.values():
            mine = (r["recipient_id"] == candidate_id and r["recipient_kind"] == "candidate") or (
                r["recipient_kind"] == "recruiter" and r["payload"].get("candidate_id") == candidate_id
            )
            if mine and r["state"] in ("pending", "held", "sending"):
                r.update(state="suppressed", why="erased", lease_until=None)
                refs.append(_ref(r, SuppressionReason.ERASED))
        return refs

    async def keep_under_pseudonym(self, candidate_id: str, pseudonyms: Pseudonymizer) -> int:
        for r in self._db.outbox.values():
            if r["recipient_kind"] == "recruiter" and r["payload"].get("candidate_id") == candidate_id:
                r.update(payload={}, related_id=None)
        mine = [
            r
            for r in self._db.outbox.values()
            if r["recipient_id"] == candidate_id and r["recipient_kind"] == "candidate"
        ]
        pseudonym = pseudonyms.candidate(candidate_id)
        for r in mine:
            key = (pseudonym, r["channel"], r["purpose"], r["about_id"], r["about_version"])
            if self._find(key) is not None:  # kept so by an earlier erasure
                del self._db.outbox[r["id"]]
                continue
            related = r["related_id"]
            r.update(
                recipient_id=pseudonym,
                payload={},
                related_id=None if related is None else pseudonyms.of("related", related),
            )
        return len(mine)


class FakeDigests:
    """The `Digests` port in memory."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    async def due_held(self, now: datetime, limit: int) -> list[HeldRow]:
        held = sorted(
            (r for r in self._db.outbox.values() if r["state"] == "held" and r["not_before"] <= now),
            key=lambda r: (r["recipient_id"], r["channel"]),
        )[:limit]
        return [HeldRow(r["id"], r["recipient_id"], Channel(r["channel"]), r["payload"]) for r in held]

    async def save(self, digest: Digest, now: datetime) -> None:
        same = [
            r["about_version"]
            for r in self._db.outbox.values()
            if (r["recipient_id"], r["channel"], r["purpose"], r["about_id"])
            == (digest.recipient_id, str(digest.channel), "digest", digest.about_id)
        ]
        planned = PlannedNotification(
            recipient_id=digest.recipient_id,
            recipient_kind=RecipientKind.CANDIDATE,
            channel=digest.channel,
            purpose=NotificationPurpose.DIGEST,
            about_id=digest.about_id,
            payload=digest.payload,
            not_before=now,
            about_version=max(same, default=0) + 1,
        )
        [ref] = FakeOutbox(self._db)._plan([planned], now)
        for row_id in digest.row_ids:
            self._db.outbox[row_id].update(state="digested", digest_id=ref.id)


class FakeEventOutbox:
    """The `EventOutbox` port in memory."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    async def queue(self, events: Iterable[AnyEvent]) -> None:
        known = {e.id for _, e in self._db.queued if not isinstance(e, Tombstone)}
        for event in events:
            if event.id not in known:
                self._db.queued.append((self._db.next_seq, event))
                self._db.next_seq += 1
                known.add(event.id)

    async def queue_tombstone(self, topic: str, key: str) -> None:
        self._db.queued.append((self._db.next_seq, Tombstone(topic, key)))
        self._db.next_seq += 1

    async def drop_consent_updates(self, candidate_id: str) -> None:
        self._db.queued = [
            (s, e)
            for s, e in self._db.queued
            if isinstance(e, Tombstone)
            or not (e.type == ev.ConsentUpdated.TYPE and e.subject == candidate_id)
        ]


class FakeRelay:
    """The `FactRelay` port in memory: publishes the database's queued facts in order, then forgets them."""

    def __init__(self, db: FakeDatabase, publisher: FakePublisher) -> None:
        self._db = db
        self._publisher = publisher

    async def relay(self, limit: int = 500) -> int:
        total = 0
        while pending := self._db.queued[:limit]:
            await publish_in_order(self._publisher, [fact for _, fact in pending])
            gone = {seq for seq, _ in pending}
            self._db.queued = [(s, e) for s, e in self._db.queued if s not in gone]
            total += len(pending)
            if len(pending) < limit:
                break
        return total


class FakeProcessedEvents:
    """The `ProcessedEvents` port in memory."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    async def mark_many(self, consumer: str, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        self._db.calls.append("mark_many")
        new = set()
        for source, event_id in keys:
            if (consumer, source, event_id) not in self._db.processed:
                self._db.processed.add((consumer, source, event_id))
                new.add((source, event_id))
        return new

    async def pseudonymize_bare(self, key_of: Callable[[str], str], chunk: int = 10_000) -> int:
        bare = sorted(k for k in self._db.processed if not k[2].startswith(PSEUDONYM_PREFIX))[:chunk]
        for consumer, source, event_id in bare:
            self._db.processed.discard((consumer, source, event_id))
            self._db.processed.add((consumer, source, key_of(event_id)))
        return len(bare)


class FakeUnitOfWork(FakeTransaction):
    """The `UnitOfWork` port in memory: a failing block leaves the database as it found it."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db
        self._before: FakeDatabase | None = None
        self.contacts = FakeContacts(db)
        self.snapshots = FakeSnapshots(db)
        self.outbox = FakeOutbox(db)
        self.digests = FakeDigests(db)
        self.events = FakeEventOutbox(db)
        self.processed = FakeProcessedEvents(db)

    async def begin(self) -> None:
        self._before = copy.deepcopy(self._db)

    async def commit(self) -> None:
        failure = self._db.failing_commits.pop(0) if self._db.failing_commits else None
        if failure is None:
            self._db.commits += 1
            self._before = None
            return
        await self.rollback()
        raise failure

    async def rollback(self) -> None:
        before, self._before = self._before, None
        if before is not None:
            calls, failing = self._db.calls, self._db.failing_commits
            self._db.__dict__.update(before.__dict__)
            self._db.calls, self._db.failing_commits = calls, failing  # what was asked stays logged


class FakeUnitsOfWork:
    """The `UnitsOfWork` port in memory, over one `FakeDatabase`."""

    def __init__(self, db: FakeDatabase | None = None) -> None:
        self.db = db or FakeDatabase()

    def __call__(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.db)


class FakePublisher:
    """The `Publisher` port in memory: what was published (`records`: events and tombstones, in order)."""

    def __init__(self) -> None:
        self.records: list[QueuedFact] = []

    @property
    def published(self) -> list[AnyEvent]:
        """The events, in order."""
        return [r for r in self.records if not isinstance(r, Tombstone)]

    @property
    def tombstones(self) -> list[tuple[str, str]]:
        """The tombstones' (topic, key), in order."""
        return [(r.topic, r.key) for r in self.records if isinstance(r, Tombstone)]

    async def publish(self, event: AnyEvent) -> None:
        self.records.append(event)

    async def publish_many(self, events: Iterable[AnyEvent]) -> None:
        self.records.extend(events)

    async def tombstone(self, topic: str, key: str) -> None:
        self.records.append(Tombstone(topic, key))


class FakeMetrics:
    """The `Metrics` port in memory: `counts[(name, *labels)]` (names as the port's methods), the last
    depth per state and every send duration."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, ...]] = Counter()
        self.depth: dict[str, int] = {}
        self.durations: list[tuple[Channel, float]] = []

    def outcome(self, channel: Channel, purpose: NotificationPurpose, outcome: str) -> None:
        self.counts["outcome", str(channel), str(purpose), outcome] += 1

    def queue_depth(self, state: str, rows: int) -> None:
        self.depth[state] = rows

    def send_duration(self, channel: Channel, seconds: float) -> None:
        self.durations.append((channel, seconds))

    def too_old(self, kind: str, facts: int = 1) -> None:
        self.counts["too_old", kind] += facts

    def consent_withdrawn(self, origin: ConsentOrigin) -> None:
        self.counts["consent_withdrawn", str(origin)] += 1

    def opt_out_kept(self, channel: Channel) -> None:
        self.counts["opt_out_kept", str(channel)] += 1


class FakeSender:
    """The `EmailSender` and `SmsSender` ports in memory: what was sent, by notification id; the
    next `refusals` raise instead (a `DeliveryError` each)."""

    def __init__(self) -> None:
        self.sent: dict[str, EmailMessage | SmsMessage] = {}
        self.accepted: list[str] = []
        """The notification ids of every message accepted by `send`, in order (a re-send twice)."""
        self.refusals: list[DeliveryError] = []

    async def send(self, message: EmailMessage | SmsMessage) -> Receipt:
        if self.refusals:
            raise self.refusals.pop(0)
        self.sent[message.notification_id] = message
        self.accepted.append(message.notification_id)
        return Receipt(f"fake-{message.notification_id}")

    async def lookup(self, notification_id: str) -> Receipt | None:
        return Receipt(f"fake-{notification_id}") if notification_id in self.sent else None

    async def aclose(self) -> None:
        return None
