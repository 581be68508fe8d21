"""In-memory fakes of the ports: the repositories and the unit of work (with the SQL's rules, checked
against PostgreSQL by `tests/test_repositories_contract.py`), the sink, slot feed and metrics of the
handlers, and the query ports of the HTTP API (search, observatory)."""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.topics import Topic
from vocation_shared.contracts.vocabulary import OfferKind
from vocation_shared.facts import Fact, Tombstone
from vocation_shared.testing.transaction import FakeTransaction

from vocation_catalogue.core.applications import PENDING, Application, ApplicationState, MatchView, Offer
from vocation_catalogue.core.booking import DateRange
from vocation_catalogue.core.observatory import NeedCounts, ObservatoryQuery
from vocation_catalogue.core.pair_matches import Forget, ForgetIf, Keep, Pair, PairChange
from vocation_catalogue.core.projection import Row
from vocation_catalogue.core.search import SearchQuery
from vocation_catalogue.ports import HeldBooking, SearchPage

KNOWN_TABLES = frozenset({"vacancies", "immersion_slots", "trainings", "establishments", "candidate_supply"})


@dataclass
class FakeBooking:
    """One `immersion_bookings` row."""

    slot_id: str
    candidate_id: str
    dates: DateRange
    booked: bool = True


@dataclass
class FakeDatabase:
    """The state the fake repositories share; `locks` logs the locks asked for, in order."""

    rows: dict[tuple[str, str], Row] = field(default_factory=dict)
    processed: set[tuple[str, str, str]] = field(default_factory=set)
    bookings: dict[str, FakeBooking] = field(default_factory=dict)
    outcomes: dict[str, tuple[list[AnyEvent], list[str]]] = field(default_factory=dict)
    erased: set[str] = field(default_factory=set)
    locks: list[str] = field(default_factory=list)
    commits: int = 0
    applications: dict[str, Application] = field(default_factory=dict)
    matches: dict[tuple[str, str], MatchView] = field(default_factory=dict)
    outbox: list[Fact] = field(default_factory=list)
    hires: Counter[str] = field(default_factory=Counter)

    def row(self, table: str, id: str) -> Row | None:
        """A stored row, or None."""
        return self.rows.get((table, id))


def _known(table: str) -> str:
    if table not in KNOWN_TABLES:
        raise ValueError(f"unknown read-model table {table!r}")
    return table


class FakeReadModels:
    """The `ReadModels` port in memory: newest version wins, the earliest `posted_at` stays."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    async def upsert(self, row: Row) -> bool:
        stored = self._db.rows.get((_known(row.table), row.id))
        if stored is None:
            self._db.rows[(row.table, row.id)] = row
            return True
        if stored.version >= row.version:
            return False
        columns = {**stored.columns, **row.columns}
        if "posted_at" in stored.columns and "posted_at" in row.columns:
            columns["posted_at"] = min(stored.columns["posted_at"], row.columns["posted_at"])
        self._db.rows[(row.table, row.id)] = Row(row.table, row.id, row.version, columns)
        return True

    async def fill_vacancy(self, vacancy_id: str, at: datetime) -> bool:
        stored = self._db.row("vacancies", vacancy_id)
        if stored is None or stored.columns.get("status") != "open":
            return False
        data = {**stored.columns["data"], "status": "filled"}
        data["posts_filled"] = int(data.get("posts", 1))
        columns = {**stored.columns, "status": "filled", "updated_at": at, "data": data}
        self._db.rows[("vacancies", vacancy_id)] = Row("vacancies", vacancy_id, stored.version, columns)
        return True

    async def has_slot(self, slot_id: str) -> bool:
        return self._db.row("immersion_slots", slot_id) is not None

    async def slot(self, slot_id: str) -> p.ImmersionSlot | None:
        stored = self._db.row("immersion_slots", slot_id)
        return None if stored is None else p.ImmersionSlot.model_validate(stored.columns["data"])

    async def slot_versions(self, slot_id: str) -> tuple[int, int] | None:
        stored = self._db.row("immersion_slots", slot_id)
        return None if stored is None else (stored.version, int(stored.columns.get("partner_version", 0)))

    async def erase(self, table: str, id: str) -> None:
        self._db.rows.pop((_known(table), id), None)

    async def vacancy_offer(self, vacancy_id: str) -> Offer | None:
        stored = self._db.row("vacancies", vacancy_id)
        if stored is None:
            return None
        c = stored.columns
        kind = OfferKind.APPRENTICESHIP if c["contract_type"] == "apprentissage" else OfferKind.VACANCY
        return Offer(vacancy_id, kind, c["status"] == "open", c["departement"], c["rome_code"])

    async def candidate_summary(self, candidate_id: str) -> p.CandidateSummary | None:
        stored = self._db.row("candidate_supply", candidate_id)
        return None if stored is None else p.CandidateSummary.model_validate(stored.columns["summary"])

    async def count_hire(self, vacancy_id: str, at: datetime) -> bool:
        if self._db.row("vacancies", vacancy_id) is not None:
            self._db.hires[vacancy_id] += 1
        return await self.settle_hires(vacancy_id, at)

    async def settle_hires(self, vacancy_id: str, at: datetime) -> bool:
        stored = self._db.row("vacancies", vacancy_id)
        if stored is None or stored.columns.get("status") != "open":
            return False
        data = stored.columns["data"]
        hires = self._db.hires[vacancy_id]
        if hires < int(data.get("posts", 1)):
            return False
        data = {**data, "status": "filled", "posts_filled": max(int(data.get("posts_filled", 0)), hires)}
        columns = {**stored.columns, "status": "filled", "updated_at": at, "data": data}
        self._db.rows[("vacancies", vacancy_id)] = Row("vacancies", vacancy_id, stored.version, columns)
        return True


class FakeBookings:
    """The `Bookings` port in memory; its locks are only logged (one task runs at a time)."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    async def lock_slot(self, slot_id: str) -> None:
        self._db.locks.append(f"slot:{slot_id}")

    async def lock_candidate(self, candidate_id: str) -> None:
        self._db.locks.append(f"candidate:{candidate_id}")

    async def held_dates(self, candidate_id: str) -> list[DateRange]:
        return [b.dates for b in self._db.bookings.values() if b.candidate_id == candidate_id and b.booked]

    async def booked_on(self, slot_id: str) -> int:
        return sum(1 for b in self._db.bookings.values() if b.slot_id == slot_id and b.booked)

    async def add(self, request: p.ImmersionRequest, at: datetime) -> None:
        if request.request_id in self._db.bookings:
            raise ValueError(f"duplicate booking {request.request_id!r}")  # the primary key
        dates = DateRange(request.start_date, request.end_date)
        self._db.bookings[request.request_id] = FakeBooking(request.slot_id, request.candidate_id, dates)

    async def holder(self, request_id: str, slot_id: str) -> tuple[str, bool] | None:
        held = self._db.bookings.get(request_id)
        return None if held is None or held.slot_id != slot_id else (held.candidate_id, held.booked)

    async def cancel(self, request_id: str, at: datetime) -> None:
        if request_id in self._db.bookings:
            self._db.bookings[request_id].booked = False

    async def slots_of(self, candidate_id: str) -> list[str]:
        return sorted({b.slot_id for b in self._db.bookings.values() if b.candidate_id == candidate_id})

    async def delete_of(self, candidate_id: str) -> list[HeldBooking]:
        theirs = [r for r, b in self._db.bookings.items() if b.candidate_id == candidate_id]
        deleted = [self._db.bookings.pop(r) for r in theirs]
        return [
            HeldBooking(r, b.slot_id, b.booked, b.dates.end) for r, b in zip(theirs, deleted, strict=True)
        ]


def _data(event: AnyEvent) -> dict[str, Any]:
    data = event.to_json_dict().get("data")
    return data if isinstance(data, dict) else {}


class FakeOutcomes:
    """The `Outcomes` port in memory: events and tombstone keys per key."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    async def earlier(self, key: str) -> list[Fact] | None:
        if key not in self._db.outcomes:
            return None
        events, tombstones = self._db.outcomes[key]
        return [*events, *(Tombstone(str(Topic.IMMERSION_BOOKINGS), k) for k in tombstones)]

    async def keep(self, key: str, facts: Sequence[Fact]) -> None:
        if key in self._db.outcomes:
            raise ValueError(f"duplicate outcome {key!r}")  # the primary key
        self._db.outcomes[key] = _split(facts)

    async def replace(self, key: str, facts: Sequence[Fact]) -> None:
        events, tombstones = _split(facts)
        self._db.outcomes[key] = (events, list(dict.fromkeys(tombstones)))

    async def blank_candidate(self, candidate_id: str) -> set[tuple[str, str]]:
        told: set[tuple[str, str]] = set()
        for key, (events, tombstones) in list(self._db.outcomes.items()):
            theirs = [d for d in map(_data, events) if d.get("candidate_id") == candidate_id]
            if theirs:
                self._db.outcomes[key] = ([], tombstones)
                told |= {(str(d["slot_id"]), str(d["request_id"])) for d in theirs if "request_id" in d}
        return told


def _split(facts: Sequence[Fact]) -> tuple[list[AnyEvent], list[str]]:
    events: list[AnyEvent] = [f for f in facts if not isinstance(f, Tombstone)]
    return events, [f.key for f in facts if isinstance(f, Tombstone)]


class FakeErasures:
    """The `Erasures` port in memory."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    async def erased(self, pseudonym: str) -> bool:
        return pseudonym in self._db.erased

    async def erased_among(self, pseudonyms: Collection[str]) -> frozenset[str]:
        return frozenset(pseudonyms) & frozenset(self._db.erased)

    async def remember(self, pseudonym: str) -> None:
        self._db.erased.add(pseudonym)


class FakeApplications:
    """The `ApplicationRecords` port in memory (one task runs at a time: no lock to take)."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    async def get(self, candidate_id: str, offer_id: str) -> Application | None:
        return self._db.applications.get(p.application_id_of(candidate_id, offer_id))

    async def hold(self, blank: Application) -> Application:
        return self._db.applications.setdefault(blank.application_id, blank)

    async def save(self, record: Application) -> None:
        self._db.applications[record.application_id] = record

    async def pending_of(self, offer_id: str) -> list[Application]:
        return sorted(
            (a for a in self._db.applications.values() if a.offer_id == offer_id and a.state in PENDING),
            key=lambda a: a.application_id,
        )

    async def due(self, today: date, limit: int) -> list[Application]:
        due = [
            a
            for a in self._db.applications.values()
            if a.state is ApplicationState.SUBMITTED and a.answer_due is not None and a.answer_due <= today
        ]
        return sorted(due, key=lambda a: (a.answer_due or today, a.application_id))[:limit]

    async def delete_of(self, candidate_id: str) -> list[str]:
        theirs = sorted(i for i, a in self._db.applications.items() if a.candidate_id == candidate_id)
        for i in theirs:
            del self._db.applications[i]
        return theirs


class FakePairMatches:
    """The `PairMatches` port in memory."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    async def apply(self, changes: Mapping[Pair, PairChange]) -> None:
        for pair, change in changes.items():
            standing = self._db.matches.get(pair)
            match change:
                case Keep(view=view):
                    self._db.matches[pair] = replace(view, reasons=tuple(view.reasons))
                case Forget():
                    self._db.matches.pop(pair, None)
                case ForgetIf(match_ids=ids) if standing is not None and standing.match_id in ids:
                    del self._db.matches[pair]

    async def get(self, candidate_id: str, offer_id: str) -> MatchView | None:
        return self._db.matches.get((candidate_id, offer_id))

    async def delete_of(self, candidate_id: str) -> None:
        for pair in [pair for pair in self._db.matches if pair[0] == candidate_id]:
            del self._db.matches[pair]


class FakeOutbox:
    """The `Outbox` port in memory: the facts queued, in order, in `FakeDatabase.outbox`."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    async def queue(self, facts: Sequence[Fact]) -> None:
        queued = {f.id for f in self._db.outbox if not isinstance(f, Tombstone)}
        self._db.outbox += [f for f in facts if isinstance(f, Tombstone) or f.id not in queued]


class FakeProcessedEvents:
    """The `ProcessedEvents` port in memory."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    async def mark(self, consumer: str, source: str, event_id: str) -> bool:
        if (consumer, source, event_id) in self._db.processed:
            return False
        self._db.processed.add((consumer, source, event_id))
        return True


class FakeUnitOfWork(FakeTransaction):
    """The fake repositories over one `FakeDatabase`: a block that raises leaves the database as it
    found it (the locks asked for stay logged); one that ends normally counts a commit."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db
        self._before: FakeDatabase | None = None
        self.read_models = FakeReadModels(db)
        self.bookings = FakeBookings(db)
        self.outcomes = FakeOutcomes(db)
        self.erasures = FakeErasures(db)
        self.processed = FakeProcessedEvents(db)
        self.applications = FakeApplications(db)
        self.matches = FakePairMatches(db)
        self.outbox = FakeOutbox(db)

    async def begin(self) -> None:
        self._before = copy.deepcopy(self._db)

    async def commit(self) -> None:
        self._before = None
        self._db.commits += 1

    async def rollback(self) -> None:
        before, self._before = self._before, None
        if before is not None:
            before.locks = self._db.locks
            self._db.__dict__.update(before.__dict__)


class FakeUnitsOfWork:
    """The `UnitsOfWork` port in memory, over one `FakeDatabase`."""

    def __init__(self, db: FakeDatabase | None = None) -> None:
        self.db = db or FakeDatabase()

    def __call__(self) -> FakeUnitOfWork:
        """A unit of work, begun on entering it."""
        return FakeUnitOfWork(self.db)


class FakeSink:
    """The `EventSink` port in memory: what was published, in order (events, and tombstones as
    (topic, key)); the next `failures` publishes raise instead (a broker that went away)."""

    def __init__(self) -> None:
        self.published: list[AnyEvent] = []
        self.tombstones: list[tuple[str, str]] = []
        self.order: list[str] = []
        self.failures = 0

    def _fail(self) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("the broker did not acknowledge")

    async def publish(self, event: AnyEvent) -> None:
        self._fail()
        self.published.append(event)
        self.order.append(event.id)

    async def tombstone(self, topic: str, key: str) -> None:
        self._fail()
        self.tombstones.append((topic, key))
        self.order.append(f"tombstone:{key}")


class FakeSlotFeed:
    """The `SlotFeed` port: the slots' consumer is behind until `caught_up` is set."""

    def __init__(self) -> None:
        self.caught_up = False

    async def behind(self, slot_id: str, request_id: str) -> bool:
        return not self.caught_up


class FakeMetrics:
    """The `Metrics` port in memory: counts by (what, label)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, ...]] = Counter()

    def event_handled(self, type: str, outcome: str) -> None:
        self.counts["event", type, outcome] += 1

    def immersion_outcome(self, outcome: str) -> None:
        self.counts["immersion", outcome] += 1

    def request_waited(self) -> None:
        self.counts["waited",] += 1


class FakeSearch:
    """The `OfferSearch` port in memory: remembers the queries; answers `items[catalogue]` (one item
    and `next_cursor`) or nothing; `failure`, when set, is raised instead (a database down)."""

    def __init__(
        self, items: dict[str, dict[str, Any]] | None = None, next_cursor: str | None = None
    ) -> None:
        self.items = items or {}
        self.next_cursor = next_cursor
        self.queries: list[SearchQuery] = []
        self.failure: Exception | None = None

    async def search(self, query: SearchQuery) -> SearchPage:
        if self.failure is not None:
            raise self.failure
        self.queries.append(query)
        item = self.items.get(query.catalogue.value)
        return SearchPage([] if item is None else [item], None if item is None else self.next_cursor)

    async def get(self, catalogue: str, id: str) -> dict[str, Any] | None:
        return self.items.get(catalogue)


class FakeObservatory:
    """The `Observatory` port in memory: one row per question (its open vacancies count the
    questions), as of `as_of`; `gate`, when set, holds the questions until opened; the first
    `fail_first` questions time out."""

    def __init__(self, as_of: datetime, gate: asyncio.Event | None = None, fail_first: int = 0) -> None:
        self.as_of = as_of
        self.asked: list[ObservatoryQuery] = []
        self.gate = gate
        self.fail_first = fail_first

    async def needs(self, query: ObservatoryQuery) -> tuple[list[NeedCounts], datetime]:
        self.asked.append(query)
        if self.gate is not None:
            await self.gate.wait()
        if len(self.asked) <= self.fail_first:
            raise TimeoutError("the aggregate took too long")
        return [NeedCounts("01", "J1501", open_vacancies=len(self.asked), open_posts=3)], self.as_of
