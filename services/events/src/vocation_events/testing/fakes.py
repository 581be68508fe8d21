"""In-memory fakes of the ports (unit of work and repositories, sink, partners, owners, metrics, dead
letters and their queue, webhook deliveries and client), with the SQL's rules: the repositories and the webhook
deliveries are checked against PostgreSQL by `tests/test_repositories_contract.py`."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import FastAPI
from vocation_shared.sealing import ContactKeyError
from vocation_shared.testing.transaction import FakeTransaction

from vocation_events.adapters.http import create_http_app
from vocation_events.adapters.metrics import PrometheusMetrics
from vocation_events.adapters.rate_limits import InMemoryRateLimits
from vocation_events.auth import Authenticator
from vocation_events.core.dead_letters import DeadLetter
from vocation_events.core.ingestion import Record
from vocation_events.core.ownership import decide
from vocation_events.core.partners import Partner, hash_api_key
from vocation_events.core.ratelimit import RateLimiter
from vocation_events.core.webhooks import OWNER_ONLY_TYPES, Subscription
from vocation_events.handlers.ingestion import Ingestion
from vocation_events.ports import (
    ArchiveRow,
    Claim,
    Claims,
    DeliveryRow,
    Due,
    OwnedEntity,
    RawRecord,
    Unavailable,
)
from vocation_events.settings import EventsSettings

SOURCE = "urn:partner:test"
OTHER_SOURCE = "urn:partner:other"


@dataclass
class FakeDatabase:
    """The state the fake repositories share; a unit of work that raises restores it."""

    accepted: set[tuple[str, str]] = field(default_factory=set)
    """The claimed idempotency keys (source, event id)."""
    owners: dict[tuple[str, str], tuple[str, datetime]] = field(default_factory=dict)
    """(kind, entity id) → (owner source, since)."""
    erasures: list[dict[str, Any]] = field(default_factory=list)
    """The ledger in order: `key` (the candidate, for the pseudonym), `candidate_id` (None once applied)."""
    archive: dict[tuple[str, str], ArchiveRow] = field(default_factory=dict)
    """Archived rows by (source, event id), in arrival order."""
    commits: int = 0

    def erased(self) -> list[str]:
        """The candidates erased, in order."""
        return [e["key"] for e in self.erasures]


class FakeClaimRepository:
    """Claims in a set, owners in a dict, with `core.ownership.decide`'s rules (the SQL's)."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    async def claim(self, claims: Claims) -> Claim:
        assert len(set(claims.ids)) == len(claims.ids), "the ids of one claim are distinct"
        named = {(r.kind, r.entity_id) for refs in claims.refs for r in refs}
        owners = {k: self._db.owners[k][0] for k in named if k in self._db.owners}
        refused, new_owners = decide(claims.refs, owners, claims.source)
        keys = {(claims.source, event_id) for i, event_id in enumerate(claims.ids) if i not in refused}
        won = keys - self._db.accepted
        self._db.accepted |= won
        now = datetime.now(UTC)
        self._db.owners.update({k: (claims.source, now) for k in new_owners})
        return Claim(frozenset(event_id for _, event_id in keys - won), refused)

    async def release_candidate(self, candidate_id: str) -> None:
        self._db.owners.pop(("candidate", candidate_id), None)


class FakeErasures:
    """The erasure ledger as a list."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    async def record(self, candidate_id: str, source: str, event_id: str) -> None:
        if candidate_id not in self._db.erased():
            self._db.erasures.append({"key": candidate_id, "candidate_id": candidate_id, "source": source})

    async def pending(self, limit: int) -> list[str]:
        return [e["candidate_id"] for e in self._db.erasures if e["candidate_id"] is not None][:limit]

    async def count_pending(self) -> int:
        return len(await self.pending(len(self._db.erasures)))

    async def erased_among(self, candidate_ids: Collection[str]) -> set[str]:
        return set(candidate_ids) & set(self._db.erased())

    async def applied(self, candidate_ids: Sequence[str]) -> None:
        for e in self._db.erasures:
            if e["candidate_id"] in candidate_ids:
                e["candidate_id"] = None


class FakeArchive:
    """Archived rows in a dict: a known (source, id) or an erased candidate's row is skipped."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    async def store(self, rows: Sequence[ArchiveRow]) -> int:
        erased = set(self._db.erased())
        new = 0
        for row in rows:
            key = (row[3], row[4])
            if key in self._db.archive or (row[9] is not None and row[9] in erased):
                continue
            self._db.archive[key] = row
            new += 1
        return new

    async def forget(self, topic: str, subject: str, of_record: tuple[str, str] | None = None) -> int:
        def of_it(event: str) -> bool:
            return of_record is None or orjson.loads(event)["data"].get(of_record[0]) == of_record[1]

        gone = [k for k, r in self._db.archive.items() if r[0] == topic and r[6] == subject and of_it(r[8])]
        for k in gone:
            del self._db.archive[k]
        return len(gone)

    async def delete_of_candidates(self, candidate_ids: Sequence[str], limit: int) -> int:
        gone = [k for k, r in self._db.archive.items() if r[9] in candidate_ids][:limit]
        for k in gone:
            del self._db.archive[k]
        return len(gone)


class FakeUnitOfWork(FakeTransaction):
    """One unit at a time (a lock, as the rows' locks would order them); rolled back by restoring a copy."""

    claims: FakeClaimRepository
    erasures: FakeErasures
    archive: FakeArchive

    def __init__(self, units: FakeUnitsOfWork) -> None:
        self._units = units
        self._saved: FakeDatabase | None = None

    async def begin(self) -> None:
        if self._units.down:
            raise Unavailable("PostgreSQL unreachable: ConnectionRefusedError")
        await self._units.lock.acquire()
        db = self._units.db
        self._saved = copy.deepcopy(db)
        self.claims, self.erasures, self.archive = FakeClaimRepository(db), FakeErasures(db), FakeArchive(db)

    async def commit(self) -> None:
        self._units.db.commits += 1

    async def rollback(self) -> None:
        assert self._saved is not None
        self._units.db.__dict__.update(self._saved.__dict__)

    async def close(self) -> None:
        self._units.lock.release()


class FakeUnitsOfWork:
    """The `UnitsOfWork` port over a `FakeDatabase`; `down` makes every unit fail as if PostgreSQL were."""

    def __init__(self, db: FakeDatabase | None = None) -> None:
        self.db = db or FakeDatabase()
        self.lock = asyncio.Lock()
        self.down = False

    def __call__(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)


class FakeOwners:
    """The `Owners` port, reading a `FakeDatabase`."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    async def owned(self, source: str, kind: str, after: str | None, limit: int) -> list[OwnedEntity]:
        found = sorted(
            OwnedEntity(k, i, since)
            for (k, i), (owner, since) in self._db.owners.items()
            if owner == source and k == kind and (after is None or i > after)
        )
        return found[:limit]


class FakeSink:
    """Keeps what was written; `down` makes every write fail as if Kafka were unreachable."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.down = False

    async def write(self, records: Sequence[Record]) -> None:
        if self.down:
            raise Unavailable("Kafka unreachable: KafkaConnectionError")
        self.records.extend(records)

    async def ping(self) -> bool:
        return not self.down


class FakePartners:
    def __init__(self) -> None:
        self.by_hash: dict[bytes, Partner] = {}

    def add(self, key: str, partner: Partner) -> None:
        self.by_hash[hash_api_key(key)] = partner

    async def by_key_hash(self, key_hash: bytes) -> Partner | None:
        return self.by_hash.get(key_hash)


class FakeMetrics:
    """The `Metrics` port as plain counters."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, object, str], int] = {}
        self.publish_seconds: list[float] = []
        self.archived_events: dict[str, int] = {}

    def count(self, outcome: str, event_type: object, partner: str, n: int = 1) -> None:
        key = (outcome, event_type, partner)
        self.events[key] = self.events.get(key, 0) + n

    def published(self, seconds: float) -> None:
        self.publish_seconds.append(seconds)

    def archived(self, topic: str, n: int) -> None:
        self.archived_events[topic] = self.archived_events.get(topic, 0) + n


class FakeDeadLetters:
    """Keeps the records dead-lettered."""

    def __init__(self) -> None:
        self.records: list[RawRecord] = []

    async def reject(self, record: RawRecord) -> None:
        self.records.append(record)


@dataclass(frozen=True, slots=True)
class FakeRecord:
    """A Kafka record as read (the `RawRecord` port)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class FakeDeadLetterQueue:
    """A dead-letter topic as a list, with the re-drive group's committed offsets per partition."""

    def __init__(self, original_topic: str, letters: Sequence[DeadLetter] = ()) -> None:
        self.original_topic = original_topic
        self.letters = list(letters)
        self.committed: dict[int, int] = {}

    async def pending(self) -> list[DeadLetter]:
        return [d for d in self.letters if d.offset >= self.committed.get(d.partition, 0)]

    async def commit(self, next_offsets: Mapping[int, int]) -> None:
        self.committed.update(next_offsets)


class FakeWebhookDeliveries:
    """Subscriptions and the delivery queue in lists, with the SQL's rules; `now` is its clock (seconds)."""

    def __init__(self) -> None:
        self.subscriptions: list[Subscription] = []
        self.deliveries: list[dict[str, Any]] = []
        self.unopenable: set[str] = set()
        """Subscriptions whose sealed secret does not open (a key taken out of the keyring)."""
        self.owners: dict[str, str] = {}
        """The owning source of each vacancy (`entity_owners`' vacancies)."""
        self.now = 0.0

    async def active(self) -> list[Subscription]:
        return list(self.subscriptions)

    async def enqueue(self, rows: Sequence[DeliveryRow]) -> int:
        known = {(d["subscription_id"], d["source"], d["event_id"]) for d in self.deliveries}
        new = 0
        for subscription_id, source, event_id, subject, event_type, body in rows:
            if (subscription_id, source, event_id) in known:
                continue
            known.add((subscription_id, source, event_id))
            self.deliveries.append(
                {
                    "seq": len(self.deliveries) + 1,
                    "subscription_id": subscription_id,
                    "source": source,
                    "event_id": event_id,
                    "subject": subject,
                    "type": event_type,
                    "body": body,
                    "state": "pending",
                    "attempts": 0,
                    "next_at": self.now,
                    "last_error": None,
                }
            )
            new += 1
        return new

    async def owners_of(self, vacancy_ids: Collection[str]) -> dict[str, str]:
        return {v: self.owners[v] for v in vacancy_ids if v in self.owners}

    async def erase(self, candidate_ids: Sequence[str]) -> int:
        gone = [d for d in self.deliveries if d["subject"] in candidate_ids and d["type"] in OWNER_ONLY_TYPES]
        self.deliveries = [d for d in self.deliveries if d not in gone]
        return len(gone)

    async def claim(self, limit: int, lease_s: float) -> list[Due]:
        by_id = {s.id: s for s in self.subscriptions}
        pending = [d for d in self.deliveries if d["state"] == "pending" and d["subscription_id"] in by_id]
        first: dict[tuple[str, str], int] = {}
        for d in pending:
            first.setdefault((d["subscription_id"], d["subject"]), d["seq"])
        due = [
            d
            for d in pending
            if d["next_at"] <= self.now and first[d["subscription_id"], d["subject"]] == d["seq"]
        ]
        claimed = []
        for d in due[:limit]:
            d["attempts"] += 1
            d["next_at"] = self.now + lease_s
            s = by_id[d["subscription_id"]]
            claimed.append(Due(d["seq"], d["event_id"], d["attempts"], d["body"], s.url, s.secret, s.id))
        return claimed

    def secret(self, subscription_id: str, stored: str) -> str:
        if subscription_id in self.unopenable:
            raise ContactKeyError(
                f"contact sealed with key 'k0', not in VOCATION_CONTACTS_KEYS ({subscription_id})"
            )
        return stored

    def _delivery(self, seq: int) -> dict[str, Any]:
        return next(d for d in self.deliveries if d["seq"] == seq)

    async def delivered(self, seq: int) -> None:
        self._delivery(seq).update(state="delivered", last_error=None)

    async def attempt_failed(self, seq: int, error: str, retry_in_s: float | None) -> None:
        self._delivery(seq).update(
            last_error=error[:300],
            state="failed" if retry_in_s is None else "pending",
            next_at=self.now + (retry_in_s or 0),
        )


class FakeWebhookClient:
    """Answers each URL as told: a status, or an exception to raise (`RefusedTarget`,
    `WebhookUnreachable`); 204 by default."""

    def __init__(self, answers: Mapping[str, int | Exception] | None = None) -> None:
        self.answers: dict[str, int | Exception] = dict(answers or {})
        self.posted: list[tuple[str, bytes, dict[str, str]]] = []

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        self.posted.append((url, body, dict(headers)))
        answer = self.answers.get(url, 204)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def aclose(self) -> None:
        return None


def partner(name: str = "acme", types: frozenset[str] = frozenset({"*"}), **kwargs: object) -> Partner:
    return Partner(name, SOURCE, types, **kwargs)  # type: ignore[arg-type]


class FakeWorld:
    """A gateway app wired to fakes, with two partners: `key-all` (every type) and `key-vac`."""

    def __init__(self, settings: EventsSettings | None = None) -> None:
        self.settings = settings or EventsSettings()
        self.units = FakeUnitsOfWork()
        self.db = self.units.db
        self.sink = FakeSink()
        self.partners = FakePartners()
        self.partners.add("key-all", partner())
        self.partners.add("key-vac", partner("vacancies-only", frozenset({"fr.vocation.vacancy.posted.v1"})))
        self.partners.add("key-slow", partner("slow", rate_per_s=1.0, burst=1.0))
        self.partners.add("key-other", Partner("other", OTHER_SOURCE, frozenset({"*"})))
        self.metrics = PrometheusMetrics()
        self.ingestion = Ingestion(self.units, self.sink, self.metrics)
        self.app: FastAPI = create_http_app(
            ingestion=self.ingestion,
            authenticator=Authenticator(self.partners, ttl_s=0),
            limiter=InMemoryRateLimits(RateLimiter(1000, 2000, 1), time.monotonic),
            metrics=self.metrics,
            settings=self.settings,
            owners=FakeOwners(self.db),
        )
