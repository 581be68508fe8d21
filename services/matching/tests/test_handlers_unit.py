"""The application layer on fakes: one recording per batch, order kept, publish before commit, erasure,
metrics; and the batch consumer's barrier, tombstones and poison handling."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from vocation_matching.adapters.kafka import BarrierConsumer
from vocation_matching.core.state import MatchingState
from vocation_matching.handlers import Handlers
from vocation_matching.settings import MatchingSettings
from vocation_matching.testing import (
    TODAY,
    FakeMatchEvents,
    FakeMetrics,
    FakeUnitsOfWork,
    FixedClock,
)
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.vocabulary import MatchWithdrawalReason
from vocation_shared.kafka import RetryPolicy
from vocation_shared.kafka.dead_letters import DeadLetterReason
from vocation_shared.kafka.headers import CE_TYPE
from vocation_shared.testing import samples

pytestmark = pytest.mark.unit
SOURCE = "urn:test"


def _vacancy(n: int, event: type[Any] = ev.VacancyPosted, **overrides: Any) -> AnyEvent:
    built: AnyEvent = event.build(
        p.Vacancy.model_validate(samples.vacancy(id=f"vac-{n}", **overrides)), source=SOURCE, id=f"e-vac-{n}"
    )
    return built


def _candidate(n: int, **overrides: Any) -> AnyEvent:
    profile = p.CandidateRegistration.model_validate(samples.candidate(id=f"cand-{n}", **overrides))
    return ev.CandidateRegistered.build(profile, source=SOURCE, id=f"e-cand-{n}")


def _withdrawn(candidate: int, erasure: bool = False) -> AnyEvent:
    data = p.CandidateWithdrawn(candidate_id=f"cand-{candidate}", erasure_requested=erasure)
    return ev.CandidateWithdrawn.build(data, source=SOURCE, id=f"e-wd-{candidate}")


@dataclass
class World:
    """The handlers on a state holding `events`, with fake ports."""

    state: MatchingState
    handlers: Handlers
    units: FakeUnitsOfWork
    events: FakeMatchEvents
    metrics: FakeMetrics = field(default_factory=FakeMetrics)

    def apply(self, *events: AnyEvent) -> None:
        for event in events:
            self.state.apply(event)

    @property
    def journal(self) -> list[str]:
        return self.units.db.journal


def _world(*events: AnyEvent) -> World:
    state = MatchingState.empty()
    for event in events:
        state.apply(event)
    units = FakeUnitsOfWork()
    published = FakeMatchEvents(units.db)
    metrics = FakeMetrics()
    handlers = Handlers(state, units, published, MatchingSettings(min_score=0), FixedClock(TODAY), metrics)
    return World(state, handlers, units, published, metrics)


async def test_a_batch_of_offers_is_recorded_and_published_in_one_unit_of_work_each_offer_once() -> None:
    a, b = _vacancy(1), _vacancy(2)
    world = _world(_candidate(1), _candidate(2), a, b)
    await world.handlers.on_offer_events([a, a, b])
    assert world.journal == ["found 4", "commit"]  # published, acknowledged, then committed
    assert world.events.found_ids == [
        "vac.vac-1.v1.cand-1",
        "vac.vac-1.v1.cand-2",
        "vac.vac-2.v1.cand-1",
        "vac.vac-2.v1.cand-2",
    ]
    assert world.units.db.standing() == set(world.events.found_ids)
    assert world.metrics.counts == {("emitted", "vacancy"): 4, ("reacted", "offer"): 3}


async def test_a_withdrawal_in_a_batch_comes_after_the_matches_gathered_before_it() -> None:
    a, b = _vacancy(1), _vacancy(3)
    world = _world(_candidate(1), _vacancy(2))
    await world.handlers.on_offer_events([_vacancy(2)])
    closed = _vacancy(2, ev.VacancyClosed, status="closed", version=2)
    world.apply(a, closed, b)
    world.journal.clear()
    await world.handlers.on_offer_events([a, closed, b])
    assert world.journal == ["found 1", "commit", "withdrawn 1", "commit", "found 1", "commit"]
    assert world.events.withdrawn_ids == [("vac.vac-2.v1.cand-1", MatchWithdrawalReason.OFFER_CLOSED)]
    assert world.metrics.counts["withdrawn", "offer_closed"] == 1


async def test_an_event_older_than_the_state_is_left_to_the_newer_one() -> None:
    old = _vacancy(1)
    new = _vacancy(1, ev.VacancyUpdated, version=2, housing_offered=False)
    world = _world(_candidate(1), old, new)
    await world.handlers.on_offer_events([old])
    assert world.journal == []


async def test_a_match_not_acknowledged_is_not_recorded() -> None:
    offer = _vacancy(1)
    world = _world(_candidate(1), offer)
    world.events.fail = ConnectionError("the broker did not acknowledge")
    with pytest.raises(ConnectionError):
        await world.handlers.on_offer_events([offer])
    assert world.journal == ["rollback"]
    assert world.units.db.rows == {}
    assert ("emitted", "vacancy") not in world.metrics.counts
    world.events.fail = None  # the redelivery publishes it again, with the same event id
    await world.handlers.on_offer_events([offer])
    assert world.events.found_ids == ["vac.vac-1.v1.cand-1"]


async def test_a_match_is_published_once_whatever_the_redeliveries() -> None:
    offer = _vacancy(1)
    world = _world(_candidate(1), offer)
    await world.handlers.on_offer_events([offer])
    await world.handlers.on_offer_events([offer])
    assert world.events.found_ids == ["vac.vac-1.v1.cand-1"]
    assert world.journal == ["found 1", "commit", "commit"]


async def test_a_batch_of_candidates_asks_the_standing_offers_once() -> None:
    c1, c2 = _candidate(1), _candidate(2)
    world = _world(_vacancy(1), c1, c2)
    await world.handlers.on_candidate_events([c1, c2, c1])
    assert world.journal == ["commit", "found 2", "commit"]  # the standing offers read, then the recording
    assert world.events.found_ids == ["vac.vac-1.v1.cand-1", "vac.vac-1.v1.cand-2"]


async def test_an_erasure_withdraws_then_tombstones_then_forgets_the_candidate() -> None:
    c1 = _candidate(1)
    world = _world(_vacancy(1), _vacancy(2), c1)
    await world.handlers.on_candidate_events([c1])
    erased = _withdrawn(1, erasure=True)
    world.apply(erased)
    world.journal.clear()
    await world.handlers.on_candidate_events([erased])
    assert world.journal == ["withdrawn 2", "tombstone cand-1", "commit"]
    assert world.events.tombstones == ["cand-1"]
    assert world.units.db.rows == {}  # forgotten in the same unit of work
    assert world.metrics.counts["withdrawn", "candidate_withdrawn"] == 2


async def test_a_withdrawal_without_erasure_keeps_the_rows_and_writes_no_tombstone() -> None:
    c1 = _candidate(1)
    world = _world(_vacancy(1), c1)
    await world.handlers.on_candidate_events([c1])
    withdrawn = _withdrawn(1)
    world.apply(withdrawn)
    await world.handlers.on_candidate_events([withdrawn])
    assert world.events.tombstones == []
    assert len(world.units.db.rows) == 1
    assert world.units.db.standing() == set()


async def test_an_offer_tombstone_withdraws_its_matches() -> None:
    offer = _vacancy(1)
    world = _world(_candidate(1), offer)
    await world.handlers.on_offer_events([offer])
    await world.handlers.offer_tombstone_handler("vacancies")("vac-1")
    assert world.events.withdrawn_ids == [("vac.vac-1.v1.cand-1", MatchWithdrawalReason.OFFER_CLOSED)]


# --- the consumer: barrier once per batch, tombstones in order, poison dead-lettered -----------


@dataclass
class FakeDeadLetters:
    sent: list[tuple[int, DeadLetterReason]] = field(default_factory=list)

    async def send(
        self, record: ConsumerRecord[bytes, bytes], reason: DeadLetterReason, error: str, attempts: int = 1
    ) -> None:
        self.sent.append((record.offset, reason))


def _record(
    offset: int, key: str, value: bytes | None, type_: str | None = None
) -> ConsumerRecord[bytes, bytes]:
    headers = [(CE_TYPE, type_.encode())] if type_ else []
    return ConsumerRecord(
        "vacancies", 0, offset, 0, 0, key.encode(), value, None, len(key), len(value or b""), headers
    )


async def test_the_consumer_keeps_order_and_dead_letters_only_the_poison() -> None:
    barriers: list[int] = []
    handled: list[str] = []
    tombstones: list[str] = []
    dead = FakeDeadLetters()

    async def barrier() -> None:
        barriers.append(1)

    async def no_sleep(_: float) -> None:
        return None

    consumer = BarrierConsumer(
        KafkaBroker("127.0.0.1:1"),  # never connected: the records are handed over directly
        dead,
        RetryPolicy(initial_s=0, max_s=0, max_attempts=2),
        no_sleep,
        barrier=barrier,
    )

    async def handle(events: list[AnyEvent]) -> None:
        if any(e.subject == "vac-4" for e in events):
            raise RuntimeError("a bug on this one")
        handled.extend(e.subject for e in events)

    async def on_tombstone(key: str) -> None:
        tombstones.append(key)
        handled.append(f"tombstone:{key}")

    consumer.subscribe_batch(
        "vacancies", group_id="g.vacancies", handle_batch=handle, on_tombstone=on_tombstone
    )
    posted = ev.VacancyPosted.TYPE
    records = [
        _record(0, "vac-1", _vacancy(1).to_json_bytes(), posted),
        _record(1, "vac-2", None),
        _record(2, "vac-3", b"{not json", posted),
        _record(3, "vac-4", _vacancy(4).to_json_bytes(), posted),
        _record(4, "vac-5", _vacancy(5).to_json_bytes(), posted),
    ]
    await consumer.process_fetched_batch(records, "vacancies", "g.vacancies", handle, None, on_tombstone)
    assert barriers == [1]
    assert handled == ["vac-1", "tombstone:vac-2", "vac-5"]
    assert dead.sent == [(2, DeadLetterReason.UNPARSABLE), (3, DeadLetterReason.PROCESSING_FAILED)]
