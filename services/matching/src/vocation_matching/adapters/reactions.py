"""Reacting to new events, shared between instances by partition (consumer group): emit and withdraw matches.

Every instance holds the whole state (``StateReader``); the member of the group that owns a
partition reacts to that partition's events. Before a fetched batch is handled, the state is
brought up to the end offsets of the state topics as of now (``caught_up``): an offer posted
just after a candidate registered is matched against that candidate by whichever instance
reacts to the offer, even if another instance reacts to the candidate. A reaction works on the
*current* state of its entity: an event older than what the state holds is left to the
reaction of the newer one.

Events are handled **per fetched batch** (``EventConsumer.subscribe_batch``): the events of a
batch are taken in order; the matches they produce are gathered and recorded in the ledger
(``MatchLedger.emit``: one transaction, whose ``match-found`` events are sent together and
acknowledged together). For offers, every ``RECORD_AHEAD_MATCHES`` gathered are recorded in the
background while the next offers are matched (one recording in flight at a time, in order); the
handler returns only once all are recorded. A withdrawal first flushes the matches gathered so
far, so the facts reach the ``matches`` topic in the order the events asked for them. If a
batch keeps failing, the consumer retries its events one by one and dead-letters only the
faulty one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import date
from typing import Any

from aiokafka import ConsumerRecord
from vocation_shared.contracts import events as ev
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.topics import Topic
from vocation_shared.contracts.vocabulary import MatchWithdrawalReason
from vocation_shared.kafka import EventConsumer
from vocation_shared.kafka.consumer import BatchHandler, TombstoneHandler
from vocation_shared.logs import get_logger

from vocation_matching.core.model import (
    Candidate,
    Match,
    Offer,
    OfferKey,
    OfferSource,
    candidate_from_profile,
)
from vocation_matching.core.rules import evaluate
from vocation_matching.core.state import SOURCE_OF_TOPIC, MatchingState, offer_of
from vocation_matching.metrics import Metrics
from vocation_matching.ports import Clock, MatchLedger
from vocation_matching.settings import MatchingSettings

log = get_logger(__name__)


class BarrierConsumer(EventConsumer):
    """An `EventConsumer` whose batch subscriptions first wait for the state.

    Before each fetched batch, it waits until the state holds every event written to the state
    topics so far (``barrier``); tombstones are handed over in order by `subscribe_batch`.
    """

    def __init__(self, *args: Any, barrier: Callable[[], Awaitable[None]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._barrier = barrier

    async def process_fetched_batch(
        self,
        records: Iterable[ConsumerRecord[bytes, bytes]],
        topic: str,
        group_id: str,
        handle_batch: BatchHandler,
        accepts: frozenset[str] | None,
        on_tombstone: TombstoneHandler | None,
    ) -> None:
        """Catch the state up, then apply the batch."""
        await self._barrier()
        await super().process_fetched_batch(records, topic, group_id, handle_batch, accepts, on_tombstone)


RECORD_AHEAD_MATCHES = 1000
"""Matches gathered from a batch's offers before they are recorded in the background, while the
next offers are matched: the ledger's PostgreSQL and Kafka round trips overlap the matching."""


class _Pending:
    """The matches gathered from a batch's events, not recorded yet, and the recording in flight."""

    def __init__(self) -> None:
        self.matches: list[Match] = []
        self.recording: asyncio.Task[None] | None = None

    async def settle(self) -> None:
        """Wait for the recording in flight (if any); its failure is raised here."""
        if self.recording is not None:
            recording, self.recording = self.recording, None
            await recording

    async def abandon(self) -> None:
        """The batch failed: stop the recording in flight (its transaction rolls back; the retry redoes it)."""
        if self.recording is not None:
            recording, self.recording = self.recording, None
            recording.cancel()
            try:
                await recording
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("matches.recording_failed_with_the_batch")


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

    async def _record(self, matches: list[Match], today: date, direction: str) -> None:
        """Record and publish matches (one transaction)."""
        emitted = await self._ledger.emit(matches, today)
        for match in emitted:
            self._metrics.emitted.labels(kind=str(match.offer.kind)).inc()
        log.info("matches.emitted", direction=direction, found=len(matches), emitted=len(emitted))

    async def _flush(self, pending: _Pending, today: date, direction: str) -> None:
        """Record and publish the gathered matches, after the recording in flight; return once done."""
        await pending.settle()
        if pending.matches:
            matches, pending.matches = pending.matches, []
            await self._record(matches, today, direction)

    async def _record_ahead(self, pending: _Pending, today: date, direction: str) -> None:
        """Start recording the gathered matches in the background, once the recording in flight is done."""
        await pending.settle()
        if pending.matches:
            matches, pending.matches = pending.matches, []
            pending.recording = asyncio.create_task(self._record(matches, today, direction))

    # --- offers ---

    async def on_offer_events(self, events: Sequence[AnyEvent]) -> None:
        """Vacancies, immersion slots or training sessions posted, changed, closed, or shifts accepted."""
        pending = _Pending()
        try:
            await self._react_to_offers(events, pending)
        except BaseException:
            await pending.abandon()
            raise

    async def _react_to_offers(self, events: Sequence[AnyEvent], pending: _Pending) -> None:
        today = self._clock.today()
        seen: set[tuple[OfferKey, int]] = set()
        for event in events:
            if isinstance(event, ev.ShiftAccepted):
                await self._flush(pending, today, "offer")
                await self._withdraw_offer(
                    OfferSource.VACANCY, event.data.vacancy_id, MatchWithdrawalReason.OFFER_FILLED
                )
                continue
            offer = offer_of(event)
            if offer is None:
                continue
            current = self._state.offers.get(offer.key)
            if current is None or current.version > offer.version:
                continue  # erased since, or a newer version's own event will react
            if not current.open:
                await self._flush(pending, today, "offer")
                reason = (
                    MatchWithdrawalReason.OFFER_FILLED
                    if current.filled
                    else MatchWithdrawalReason.OFFER_CLOSED
                )
                await self._withdraw_offer(current.source, current.id, reason)
                continue
            if (current.key, current.version) in seen:
                continue  # the same version twice in one batch: matched once
            seen.add((current.key, current.version))
            if current.version > 1:
                await self._withdraw_no_longer_matching(current, today)
            pending.matches += self._match_offer(current, today)
            if len(pending.matches) >= RECORD_AHEAD_MATCHES:
                await self._record_ahead(pending, today, "offer")
            await asyncio.sleep(0)  # a batch is seconds of CPU under load: let the heartbeats through
        await self._flush(pending, today, "offer")
        self._metrics.reacted.labels(direction="offer").inc(len(events))

    def _match_offer(self, offer: Offer, today: date) -> list[Match]:
        started = time.perf_counter()
        matches = self._state.candidates.match_offer(
            offer, today, self._settings.top_per_offer, self._settings.min_score
        )
        self._metrics.match_seconds.labels(direction="offer").observe(time.perf_counter() - started)
        return matches

    async def _withdraw_no_longer_matching(self, offer: Offer, today: date) -> None:
        standing = await self._ledger.standing_candidates(offer.source, offer.id, offer.version)
        if not standing:
            return
        still = self._state.candidates.still_matching(offer, standing, today)
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

    async def on_candidate_events(self, events: Sequence[AnyEvent]) -> None:
        """Candidates registered, changed or withdrew."""
        today = self._clock.today()
        pending = _Pending()
        todo: dict[str, Candidate] = {}  # the current profiles this batch reacts to, once each
        for event in events:
            if isinstance(event, ev.CandidateRegistered | ev.ApprenticeRegistered | ev.CandidateUpdated):
                known = self._state.candidates.version_of(event.data.id)
                if known is not None and known == event.data.version and event.data.id not in todo:
                    todo[event.data.id] = candidate_from_profile(event.data)
                # else: withdrawn since, or a newer version's own event will react
        standing = await self._ledger.standing_offers_of(list(todo)) if todo else {}
        for event in events:
            if isinstance(event, ev.CandidateWithdrawn):
                await self._flush(pending, today, "candidate")
                await self._withdraw_candidate(event.data.candidate_id, erase=event.data.erasure_requested)
                continue
            if not isinstance(event, ev.CandidateRegistered | ev.ApprenticeRegistered | ev.CandidateUpdated):
                continue
            candidate = todo.get(event.data.id)
            if candidate is None or candidate.version != event.data.version:
                continue
            del todo[event.data.id]
            gone = self._no_longer_fitting(candidate, standing.get(candidate.id, ()), today)
            if gone:
                await self._flush(pending, today, "candidate")
                reason = MatchWithdrawalReason.CANDIDATE_CHANGED
                count = await self._ledger.withdraw_candidate_pairs(candidate.id, gone, reason)
                self._metrics.withdrawn.labels(reason=str(reason)).inc(count)
            started = time.perf_counter()
            pending.matches += self._state.offers.match_candidate(
                candidate, today, self._settings.top_per_candidate, self._settings.min_score
            )
            self._metrics.match_seconds.labels(direction="candidate").observe(time.perf_counter() - started)
            await asyncio.sleep(0)  # a batch is seconds of CPU under load: let the heartbeats through
        await self._flush(pending, today, "candidate")
        self._metrics.reacted.labels(direction="candidate").inc(len(events))

    def _no_longer_fitting(
        self, candidate: Candidate, standing: Iterable[OfferKey], today: date
    ) -> list[OfferKey]:
        """The open offers a changed profile has a standing match with and no longer fits."""
        gone = []
        for key in standing:
            offer = self._state.offers.get(key)
            if offer is not None and offer.open and not evaluate(candidate, offer, today).matches:
                gone.append(key)
        return gone

    async def on_candidate_tombstone(self, candidate_id: str) -> None:
        """A candidate's data is erased: withdraw and forget their matches."""
        await self._withdraw_candidate(candidate_id, erase=True)

    async def _withdraw_candidate(self, candidate_id: str, *, erase: bool) -> None:
        reason = MatchWithdrawalReason.CANDIDATE_WITHDRAWN
        count = await self._ledger.withdraw_candidate(candidate_id, reason, erase=erase)
        self._metrics.withdrawn.labels(reason=str(reason)).inc(count)
        log.info("candidate.withdrawn", candidate_id=candidate_id, withdrawn=count)


def subscribe_reactions(consumer: BarrierConsumer, reactions: Reactions, group_id: str) -> None:
    """Register the subscriptions: candidates and the three offer topics, one group per topic.

    One group per topic (``<group>.<topic>``) rather than one group for the four subscribers:
    FastStream runs one Kafka consumer per subscriber, and four members joining one group one
    after the other cost several rebalances at every start.
    """
    consumer.subscribe_batch(
        Topic.CANDIDATES,
        group_id=f"{group_id}.{Topic.CANDIDATES}",
        handle_batch=reactions.on_candidate_events,
        on_tombstone=reactions.on_candidate_tombstone,
    )
    for topic in (Topic.VACANCIES, Topic.IMMERSION_SLOTS, Topic.TRAININGS):
        consumer.subscribe_batch(
            topic,
            group_id=f"{group_id}.{topic}",
            handle_batch=reactions.on_offer_events,
            on_tombstone=reactions.offer_tombstone_handler(topic),
        )
