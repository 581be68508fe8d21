"""Reacting to new events, shared between instances by partition (consumer group): emit and withdraw matches.

Every instance holds the whole state (``StateReader``); the member of the group that owns a
partition reacts to that partition's events. Before a batch is handled, the state is brought
up to the end offsets of the state topics as of now (``caught_up``): an offer posted just
after a candidate registered is matched against that candidate by whichever instance reacts
to the offer, even if another instance reacts to the candidate. A reaction works on the
*current* state of its entity: an event older than what the state holds is left to the
reaction of the newer one.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import date
from typing import Any

from aiokafka import ConsumerRecord
from vocation_shared.contracts import events as ev
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.topics import Topic
from vocation_shared.contracts.vocabulary import MatchWithdrawalReason
from vocation_shared.kafka import EventConsumer
from vocation_shared.kafka.consumer import Subscription
from vocation_shared.logs import get_logger

from vocation_matching.core.model import Candidate, Offer, OfferSource, candidate_from_profile
from vocation_matching.core.rules import evaluate
from vocation_matching.core.state import SOURCE_OF_TOPIC, MatchingState, offer_of
from vocation_matching.metrics import Metrics
from vocation_matching.ports import Clock, MatchLedger
from vocation_matching.settings import MatchingSettings

log = get_logger(__name__)


class BarrierConsumer(EventConsumer):
    """An `EventConsumer` that waits, before each batch, for the state to hold every earlier event."""

    def __init__(self, *args: Any, barrier: Callable[[], Awaitable[None]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._barrier = barrier

    async def process_batch(
        self, records: Iterable[ConsumerRecord[bytes, bytes]], subscription: Subscription
    ) -> None:
        """Catch the state up, then process the batch as usual."""
        await self._barrier()
        await super().process_batch(records, subscription)


class Reactions:
    """The handlers of the group's events: thin, the core decides, the ledger records and publishes."""

    def __init__(
        self,
        state: MatchingState,
        ledger: MatchLedger,
        settings: MatchingSettings,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._state = state
        self._ledger = ledger
        self._settings = settings
        self._clock = clock
        self._metrics = metrics

    # --- offers ---

    async def on_offer_event(self, event: AnyEvent) -> None:
        """A vacancy, immersion slot or training session was posted, changed, closed, or a shift accepted."""
        if isinstance(event, ev.ShiftAccepted):
            await self._withdraw_offer(
                OfferSource.VACANCY, event.data.vacancy_id, MatchWithdrawalReason.OFFER_FILLED
            )
            return
        offer = offer_of(event)
        if offer is None:
            return
        current = self._state.offers.get(offer.key)
        if current is None or current.version > offer.version:
            return  # erased since, or a newer version's own event will react
        if not current.open:
            reason = (
                MatchWithdrawalReason.OFFER_FILLED if current.filled else MatchWithdrawalReason.OFFER_CLOSED
            )
            await self._withdraw_offer(current.source, current.id, reason)
            return
        await self._match_offer(current)

    async def _match_offer(self, offer: Offer) -> None:
        today = self._clock.today()
        started = time.perf_counter()
        matches = self._state.candidates.match_offer(
            offer, today, self._settings.top_per_offer, self._settings.min_score
        )
        self._metrics.match_seconds.labels(direction="offer").observe(time.perf_counter() - started)
        if offer.version > 1:
            await self._withdraw_no_longer_matching(offer)
        emitted = await self._ledger.emit(matches, today)
        self._metrics.emitted.labels(kind=str(offer.kind)).inc(len(emitted))
        log.info(
            "offer.matched",
            offer_id=offer.id,
            version=offer.version,
            found=len(matches),
            emitted=len(emitted),
        )

    async def _withdraw_no_longer_matching(self, offer: Offer) -> None:
        standing = await self._ledger.standing_candidates(offer.source, offer.id, offer.version)
        if not standing:
            return
        still = self._state.candidates.still_matching(offer, standing, self._clock.today())
        gone = [c for c in standing if c not in still]
        count = await self._ledger.withdraw_pairs(
            offer.source, offer.id, gone, MatchWithdrawalReason.OFFER_CHANGED
        )
        self._metrics.withdrawn.labels(reason=str(MatchWithdrawalReason.OFFER_CHANGED)).inc(count)

    async def _withdraw_offer(
        self, source: OfferSource, offer_id: str, reason: MatchWithdrawalReason
    ) -> None:
        count = await self._ledger.withdraw_offer(source, offer_id, reason)
        self._metrics.withdrawn.labels(reason=str(reason)).inc(count)
        log.info("offer.withdrawn", offer_id=offer_id, reason=str(reason), withdrawn=count)

    def offer_tombstone_handler(self, topic: str) -> Callable[[str], Awaitable[None]]:
        """What to do when an offer is erased from a compacted topic: its matches no longer stand."""
        source = SOURCE_OF_TOPIC[topic]

        async def on_tombstone(key: str) -> None:
            await self._withdraw_offer(source, key, MatchWithdrawalReason.OFFER_CLOSED)

        return on_tombstone

    # --- candidates ---

    async def on_candidate_event(self, event: AnyEvent) -> None:
        """A candidate registered, changed or withdrew."""
        if isinstance(event, ev.CandidateWithdrawn):
            await self._withdraw_candidate(event.data.candidate_id, erase=event.data.erasure_requested)
            return
        if not isinstance(event, ev.CandidateRegistered | ev.ApprenticeRegistered | ev.CandidateUpdated):
            return
        known = self._state.candidates.version_of(event.data.id)
        if known is None or known > event.data.version:
            return  # withdrawn since, or a newer version's own event will react
        candidate = candidate_from_profile(event.data)
        today = self._clock.today()
        await self._withdraw_no_longer_fitting(candidate, today)
        started = time.perf_counter()
        matches = self._state.offers.match_candidate(
            candidate, today, self._settings.top_per_candidate, self._settings.min_score
        )
        self._metrics.match_seconds.labels(direction="candidate").observe(time.perf_counter() - started)
        emitted = await self._ledger.emit(matches, today)
        for match in emitted:
            self._metrics.emitted.labels(kind=str(match.offer.kind)).inc()
        log.info("candidate.matched", candidate_id=candidate.id, found=len(matches), emitted=len(emitted))

    async def _withdraw_no_longer_fitting(self, candidate: Candidate, today: date) -> None:
        """A changed profile withdraws its standing matches with open offers it no longer fits."""
        standing = await self._ledger.standing_offers(candidate.id)
        gone = []
        for key in standing:
            offer = self._state.offers.get(key)
            if offer is not None and offer.open and not evaluate(candidate, offer, today).matches:
                gone.append(key)
        reason = MatchWithdrawalReason.CANDIDATE_CHANGED
        count = await self._ledger.withdraw_candidate_pairs(candidate.id, gone, reason)
        self._metrics.withdrawn.labels(reason=str(reason)).inc(count)

    async def on_candidate_tombstone(self, candidate_id: str) -> None:
        """A candidate's data is erased: withdraw and forget their matches."""
        await self._withdraw_candidate(candidate_id, erase=True)

    async def _withdraw_candidate(self, candidate_id: str, *, erase: bool) -> None:
        reason = MatchWithdrawalReason.CANDIDATE_WITHDRAWN
        count = await self._ledger.withdraw_candidate(candidate_id, reason, erase=erase)
        self._metrics.withdrawn.labels(reason=str(reason)).inc(count)
        log.info("candidate.withdrawn", candidate_id=candidate_id, withdrawn=count)


def subscribe_reactions(consumer: EventConsumer, reactions: Reactions, group_id: str) -> None:
    """Register the subscriptions: candidates and the three offer topics, one group per topic.

    One group per topic (``<group>.<topic>``) rather than one group for the four subscribers:
    FastStream runs one Kafka consumer per subscriber, and four members joining one group one
    after the other cost several rebalances at every start.
    """
    consumer.subscribe(
        Topic.CANDIDATES,
        group_id=f"{group_id}.{Topic.CANDIDATES}",
        handle=reactions.on_candidate_event,
        on_tombstone=reactions.on_candidate_tombstone,
    )
    for topic in (Topic.VACANCIES, Topic.IMMERSION_SLOTS, Topic.TRAININGS):
        consumer.subscribe(
            topic,
            group_id=f"{group_id}.{topic}",
            handle=reactions.on_offer_event,
            on_tombstone=reactions.offer_tombstone_handler(topic),
        )
