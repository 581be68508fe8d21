"""Reactions per fetched batch, with fakes: one ledger call per batch, order kept, poison isolated."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from vocation_matching.adapters.reactions import BarrierConsumer, Reactions
from vocation_matching.core.model import Match, OfferKey, OfferSource
from vocation_matching.core.state import MatchingState
from vocation_matching.metrics import Metrics
from vocation_matching.settings import MatchingSettings
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
TODAY = date(2026, 11, 22)


@dataclass(frozen=True)
class FixedClock:
    def today(self) -> date:
        return TODAY


@dataclass
class FakeLedger:
    """Records what the reactions ask, in order; emits everything it is given."""

    calls: list[tuple[str, Any]] = field(default_factory=list)

    async def emit(self, matches: Sequence[Match], today: date) -> list[Match]:
        self.calls.append(("emit", [(m.offer.id, m.candidate_id) for m in matches]))
        return list(matches)

    async def withdraw_offer(self, source: OfferSource, offer_id: str, reason: MatchWithdrawalReason) -> int:
        self.calls.append(("withdraw_offer", offer_id))
        return 0

    async def withdraw_candidate(
        self, candidate_id: str, reason: MatchWithdrawalReason, *, erase: bool
    ) -> int:
        self.calls.append(("withdraw_candidate", candidate_id))
        return 0

    async def standing_candidates(self, source: OfferSource, offer_id: str, before_version: int) -> list[str]:
        return []

    async def withdraw_pairs(
        self, source: OfferSource, offer_id: str, candidate_ids: Sequence[str], reason: MatchWithdrawalReason
    ) -> int:
        return 0

    async def standing_offers_of(self, candidate_ids: Sequence[str]) -> dict[str, list[OfferKey]]:
        self.calls.append(("standing_offers_of", list(candidate_ids)))
        return {}

    async def withdraw_candidate_pairs(
        self, candidate_id: str, offers: Sequence[OfferKey], reason: MatchWithdrawalReason
    ) -> int:
        return 0


def _vacancy(n: int, event: type[Any] = ev.VacancyPosted, **overrides: Any) -> AnyEvent:
    built: AnyEvent = event.build(
        p.Vacancy.model_validate(samples.vacancy(id=f"vac-{n}", **overrides)), source=SOURCE, id=f"e-vac-{n}"
    )
    return built


def _candidate(n: int, **overrides: Any) -> AnyEvent:
    profile = p.CandidateRegistration.model_validate(samples.candidate(id=f"cand-{n}", **overrides))
    return ev.CandidateRegistered.build(profile, source=SOURCE, id=f"e-cand-{n}")


def _reactions(events: list[AnyEvent]) -> tuple[Reactions, FakeLedger]:
    state = MatchingState.empty()
    for event in events:
        state.apply(event)
    ledger = FakeLedger()
    settings = MatchingSettings(min_score=0)
    return Reactions(state, ledger, settings, FixedClock(), Metrics(state)), ledger


async def test_a_batch_of_offers_is_recorded_in_one_emit_each_offer_once() -> None:
    a, b = _vacancy(1), _vacancy(2)
    reactions, ledger = _reactions([_candidate(1), _candidate(2), a, b])
    await reactions.on_offer_events([a, a, b])
    (call,) = ledger.calls
    assert call == (
        "emit",
        [("vac-1", "cand-1"), ("vac-1", "cand-2"), ("vac-2", "cand-1"), ("vac-2", "cand-2")],
    )


async def test_a_withdrawal_in_a_batch_comes_after_the_matches_gathered_before_it() -> None:
    a = _vacancy(1)
    closed = _vacancy(2, ev.VacancyClosed, status="closed", version=2)
    b = _vacancy(3)
    reactions, ledger = _reactions([_candidate(1), a, _vacancy(2), closed, b])
    await reactions.on_offer_events([a, closed, b])
    assert ledger.calls == [
        ("emit", [("vac-1", "cand-1")]),
        ("withdraw_offer", "vac-2"),
        ("emit", [("vac-3", "cand-1")]),
    ]


async def test_an_event_older_than_the_state_is_left_to_the_newer_one() -> None:
    old = _vacancy(1)
    new = _vacancy(1, ev.VacancyUpdated, version=2, housing_offered=False)
    reactions, ledger = _reactions([_candidate(1), old, new])
    await reactions.on_offer_events([old])
    assert ledger.calls == []


async def test_a_batch_of_candidates_asks_the_standing_offers_once() -> None:
    c1, c2 = _candidate(1), _candidate(2)
    reactions, ledger = _reactions([_vacancy(1), c1, c2])
    await reactions.on_candidate_events([c1, c2, c1])
    assert ledger.calls == [
        ("standing_offers_of", ["cand-1", "cand-2"]),
        ("emit", [("vac-1", "cand-1"), ("vac-1", "cand-2")]),
    ]


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
