"""The application layer: the reactions to the group's events, per fetched batch, through the ports only.

Every instance holds the whole state; the member of the group that owns a partition reacts to that
partition's events (the Kafka adapter brings the state up to the state topics' end first). A
reaction works on the *current* state of its entity: an event older than what the state holds is
left to the reaction of the newer one.

The events of a batch are taken in order; the matches they produce are gathered and recorded in
one unit of work (`_record`): the ledger records the new ones, their `match-found` events are
published and acknowledged, then the unit of work commits (publish before commit: see the README,
"Publishing guarantee"). For offers, every `RECORD_AHEAD_MATCHES` gathered are recorded in the
background while the next offers are matched (one recording in flight at a time, in order); a
handler returns only once all are recorded. A withdrawal first flushes the matches gathered so far,
so the facts reach the `matches` topic in the order the events asked for them.

The `applications` topic teaches (`on_application_events`): a refusal's lesson and a hire are kept in
PostgreSQL (with the event that said it: a replay changes nothing), then applied to the state; every
instance reads what any instance kept before each batch (`refresh_learning`, through the barrier), and
at start (`load_learning`). A hire that fills a vacancy's last post withdraws its other matches.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import date, datetime

from vocation_shared.contracts import events as ev
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.payloads import application_id_of
from vocation_shared.contracts.vocabulary import ApplicationAnswer, MatchWithdrawalReason
from vocation_shared.logs import get_logger

from vocation_matching.core.model import (
    Candidate,
    Match,
    Offer,
    OfferKey,
    OfferSource,
    Withdrawal,
    candidate_from_profile,
)
from vocation_matching.core.rules import evaluate
from vocation_matching.core.state import SOURCE_OF_TOPIC, MatchingState, offer_version_of
from vocation_matching.ports import Clock, Ledger, MatchEvents, Metrics, UnitsOfWork
from vocation_matching.settings import MatchingSettings

log = get_logger(__name__)

RECORD_AHEAD_MATCHES = 1000
"""Matches gathered from a batch's offers before they are recorded in the background, while the
next offers are matched: the ledger's PostgreSQL and Kafka round trips overlap the matching."""

ALL_VERSIONS = 2**31 - 1
"""`standing_candidates` of every version of an offer."""

CANDIDATE_EVENTS = (ev.CandidateRegistered, ev.ApprenticeRegistered, ev.CandidateUpdated)


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


Withdraw = Callable[[Ledger], Awaitable[list[Withdrawal]]]


class Handlers:
    """The handlers of the group's events: thin, the core decides, the ledger records, the events tell."""

    def __init__(
        self,
        state: MatchingState,
        units: UnitsOfWork,
        events: MatchEvents,
        settings: MatchingSettings,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._state = state
        self._units = units
        self._events = events
        self._settings = settings
        self._clock = clock
        self._metrics = metrics
        self._learned_at: datetime | None = None

    async def _record(self, matches: list[Match], today: date, direction: str) -> None:
        """Record the new matches and publish them, acknowledged before the unit of work commits."""
        async with self._units() as uow:
            recorded = await uow.ledger.record(matches, today)
            if recorded:
                await self._events.found(recorded)
        for kind, count in Counter(m.offer.kind for m in recorded).items():
            self._metrics.emitted(kind, count)
        log.info("matches.emitted", direction=direction, found=len(matches), emitted=len(recorded))

    async def _withdraw(
        self,
        reason: MatchWithdrawalReason,
        withdraw: Withdraw,
        erased: str | None = None,
        forget_lessons_of: str | None = None,
    ) -> int:
        """Withdraw what `withdraw` selects and publish it (then the tombstone of `erased`, whose rows
        are forgotten), acknowledged before the unit of work commits; return how many. The refusals
        of `forget_lessons_of` are deleted in the same transaction."""
        async with self._units() as uow:
            gone = await withdraw(uow.ledger)
            if gone or erased is not None:
                await self._events.withdrawn(gone, reason, erased=erased)
            if erased is not None:
                await uow.ledger.forget_candidate(erased)
            if forget_lessons_of is not None:
                await uow.learning.forget_candidate(forget_lessons_of)
        self._metrics.withdrawn(reason, len(gone))
        return len(gone)

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
            said = offer_version_of(event)
            if said is None:
                continue
            key, version = said
            current = self._state.offers.get(key)
            if current is None or current.version > version:
                continue  # erased since, or a newer version's own event will react
            if not current.open:
                await self._flush(pending, today, "offer")
                if (
                    current.filled
                    and current.id in self._state.hires
                    and current.source is OfferSource.VACANCY
                ):
                    await self._withdraw_filled_vacancy(current.id)
                    continue
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
        self._metrics.reacted("offer", len(events))

    def _match_offer(self, offer: Offer, today: date) -> list[Match]:
        started = time.perf_counter()
        matches = self._state.candidates.match_offer(
            offer, today, self._settings.top_per_offer, self._settings.min_score
        )
        self._metrics.matched("offer", time.perf_counter() - started)
        return matches

    async def _withdraw_no_longer_matching(self, offer: Offer, today: date) -> None:
        """A new version of an offer: withdraw its standing matches with candidates it no longer fits."""
        reason = MatchWithdrawalReason.OFFER_CHANGED

        async def no_longer_fitting(ledger: Ledger) -> list[Withdrawal]:
            standing = await ledger.standing_candidates(offer.source, offer.id, offer.version)
            if not standing:
                return []
            still = self._state.candidates.still_matching(offer, standing, today)
            # A candidate who declined the offer said so already: their match is not withdrawn for it.
            declined = self._state.candidates.declined_by(offer.key)
            gone = [c for c in standing if c not in still and c not in declined]
            return await ledger.withdraw_pairs(offer.source, offer.id, gone, reason) if gone else []

        await self._withdraw(reason, no_longer_fitting)

    async def _withdraw_offer(
        self, source: OfferSource, offer_id: str, reason: MatchWithdrawalReason
    ) -> None:
        count = await self._withdraw(reason, lambda ledger: ledger.withdraw_offer(source, offer_id, reason))
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
            if isinstance(event, CANDIDATE_EVENTS):
                known = self._state.candidates.version_of(event.data.id)
                if known is not None and known == event.data.version and event.data.id not in todo:
                    todo[event.data.id] = self._state.candidate_of(candidate_from_profile(event.data))
                # else: withdrawn since, or a newer version's own event will react
        standing: dict[str, list[OfferKey]] = {}
        if todo:
            async with self._units() as uow:
                standing = await uow.ledger.standing_offers_of(list(todo))
        for event in events:
            if isinstance(event, ev.CandidateWithdrawn):
                await self._flush(pending, today, "candidate")
                await self._withdraw_candidate(event.data.candidate_id, erase=event.data.erasure_requested)
                continue
            if not isinstance(event, CANDIDATE_EVENTS):
                continue
            candidate = todo.get(event.data.id)
            if candidate is None or candidate.version != event.data.version:
                continue
            del todo[event.data.id]
            gone = self._no_longer_fitting(candidate, standing.get(candidate.id, ()), today)
            if gone:
                await self._flush(pending, today, "candidate")
                await self._withdraw_candidate_pairs(candidate.id, gone)
            started = time.perf_counter()
            pending.matches += self._state.offers.match_candidate(
                candidate, today, self._settings.top_per_candidate, self._settings.min_score
            )
            self._metrics.matched("candidate", time.perf_counter() - started)
            await asyncio.sleep(0)  # a batch is seconds of CPU under load: let the heartbeats through
        await self._flush(pending, today, "candidate")
        self._metrics.reacted("candidate", len(events))

    def _no_longer_fitting(
        self, candidate: Candidate, standing: Iterable[OfferKey], today: date
    ) -> list[OfferKey]:
        """The open offers a changed profile has a standing match with and no longer fits."""
        gone = []
        for key in standing:
            offer = self._state.offers.get(key)
            if (
                offer is not None
                and offer.open
                and key not in candidate.declined  # said already: not withdrawn for it
                and not evaluate(candidate, offer, today).matches
            ):
                gone.append(key)
        return gone

    async def _withdraw_candidate_pairs(self, candidate_id: str, offers: list[OfferKey]) -> None:
        reason = MatchWithdrawalReason.CANDIDATE_CHANGED
        await self._withdraw(
            reason, lambda ledger: ledger.withdraw_candidate_pairs(candidate_id, offers, reason)
        )

    async def on_candidate_tombstone(self, candidate_id: str) -> None:
        """A candidate's data is erased: withdraw and forget their matches."""
        await self._withdraw_candidate(candidate_id, erase=True)

    async def _withdraw_candidate(self, candidate_id: str, *, erase: bool) -> None:
        """Withdraw every standing match of a candidate; on erasure, forget the rows and write a
        tombstone of the candidate on `matches` after the withdrawals (compaction then removes every
        match event about them: records keyed by candidate id)."""
        reason = MatchWithdrawalReason.CANDIDATE_WITHDRAWN
        count = await self._withdraw(
            reason,
            lambda ledger: ledger.withdraw_candidate(candidate_id, reason),
            erased=candidate_id if erase else None,
            forget_lessons_of=candidate_id,
        )
        log.info("candidate.withdrawn", candidate_id=candidate_id, withdrawn=count)

    # --- applications: refusals and hires ---

    async def on_application_events(self, events: Sequence[AnyEvent]) -> None:
        """Matches declined (never that offer again, the reason teaches) and hires (posts filled)."""
        for event in events:
            if isinstance(event, ev.MatchDeclined):
                await self._learn_refusal(event)
            elif isinstance(event, ev.ApplicationAnswered) and event.data.answer is ApplicationAnswer.HIRED:
                await self._count_hire(event)
        self._metrics.reacted("application", len(events))

    async def _learn_refusal(self, event: ev.MatchDeclined) -> None:
        data = event.data
        lesson = self._state.lesson_for(data)
        if lesson is None:
            log.info("match.declined_by_unknown_candidate", offer_id=data.offer_id)
            return  # withdrawn or erased since: their refusals went with them
        async with self._units() as uow:
            kept = await uow.learning.record_decline(event.id, data.candidate_id, lesson)
        self._state.learn(data.candidate_id, kept)
        log.info(
            "match.declined",
            offer_id=data.offer_id,
            reason=str(data.reason),
            narrowed=sorted(self._state.lessons_of(data.candidate_id)),
        )

    async def _count_hire(self, event: ev.ApplicationAnswered) -> None:
        data = event.data
        async with self._units() as uow:
            await uow.learning.record_hire(event.id, data.application_id, data.offer_id)
        self._state.hire(data.offer_id, data.application_id)
        offer = self._state.offers.get((OfferSource.VACANCY, data.offer_id))
        if offer is not None and offer.filled:
            # Also when the hire was counted before (a redelivery after a crash): withdrawing is idempotent.
            await self._withdraw_filled_vacancy(data.offer_id)

    async def _withdraw_filled_vacancy(self, vacancy_id: str) -> None:
        """A vacancy filled: withdraw its matches but those of the candidates hired through the platform."""
        reason = MatchWithdrawalReason.OFFER_FILLED
        hired = self._state.hires.get(vacancy_id, set())

        async def the_others(ledger: Ledger) -> list[Withdrawal]:
            standing = await ledger.standing_candidates(OfferSource.VACANCY, vacancy_id, ALL_VERSIONS)
            others = [c for c in standing if application_id_of(c, vacancy_id) not in hired]
            return (
                await ledger.withdraw_pairs(OfferSource.VACANCY, vacancy_id, others, reason) if others else []
            )

        count = await self._withdraw(reason, the_others)
        log.info("offer.withdrawn", offer_id=vacancy_id, reason=str(reason), withdrawn=count)

    async def load_learning(self) -> None:
        """At start, once the state is rebuilt: every refusal and hire kept."""
        self._learned_at = None
        await self.refresh_learning()

    async def refresh_learning(self) -> None:
        """Apply the refusals and hires kept since the last read (by any instance); before each batch."""
        async with self._units() as uow:
            learned = await uow.learning.since(self._learned_at)
        for candidate_id, lesson in learned.declines:
            self._state.learn(candidate_id, lesson)
        for vacancy_id, application_id in learned.hires:
            self._state.hire(vacancy_id, application_id)
        self._learned_at = learned.read_at
