"""The application layer: one method per event, each one unit of work, then the facts it gives.

A handler reads what it needs through the unit of work's repositories, asks `core` to decide,
stores the effect with the event's processed mark and the facts to publish (`uow.outcomes`), and
publishes those facts once the unit of work is committed. A redelivered event finds its facts
kept and publishes them again, the same (see the README's "Publishing guarantee").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.topics import Topic, record_key
from vocation_shared.contracts.vocabulary import (
    ApplicationWithdrawalReason,
    MatchDeclineReason,
    OfferStatus,
)
from vocation_shared.facts import Fact, Tombstone
from vocation_shared.logs import get_logger
from vocation_shared.pseudonyms import DEVELOPMENT_PSEUDONYM_KEY, Pseudonymizer

from vocation_catalogue.core import applications as apps
from vocation_catalogue.core import booking
from vocation_catalogue.core.applications import (
    Application,
    ApplicationView,
    EmployerAnswer,
    MatchView,
    Outcome,
    Refusal,
)
from vocation_catalogue.core.projection import (
    Row,
    candidate_supply_row,
    establishment_row,
    slot_row,
    training_row,
    vacancy_row,
)
from vocation_catalogue.ports import EventSink, Metrics, RetryLater, SlotFeed, UnitOfWork, UnitsOfWork

log = get_logger(__name__)

SUPPLY = "candidate_supply"
Clock = Callable[[], datetime]
Nudge = Callable[[], None]
"""Wakes the outbox relay after a commit that queued facts (it also runs on its own, now and then)."""


def _no_nudge() -> None:
    return None


def _utcnow() -> datetime:
    return datetime.now(UTC)


def application_tombstone(candidate_id: str, application_id: str) -> Tombstone:
    """The tombstone of an application: its key on `applications` (`<candidate>/<application id>`)."""
    topic = str(Topic.APPLICATIONS)
    return Tombstone(topic, record_key(topic, candidate_id, {"application_id": application_id}))


async def _act(uow: UnitOfWork, step: apps.Step) -> apps.Step:
    """Store a step that changed its pair, and queue its fact in the same unit of work."""
    if step.fact is not None:
        await uow.applications.save(step.record)
        await uow.outbox.queue([step.fact])
    return step


async def _withdraw_pending(
    uow: UnitOfWork, offer_id: str, reason: ApplicationWithdrawalReason, *, source: str, now: datetime
) -> int:
    """Withdraw the offer's applications still waiting on the employer (its row is held); how many."""
    steps = [
        await _act(uow, apps.withdraw(record, reason, source=source, now=now))
        for record in await uow.applications.pending_of(offer_id)
    ]
    return sum(1 for s in steps if s.changed)


def request_tombstone(slot_id: str, request_id: str) -> Tombstone:
    """The tombstone of an immersion request: its key on `immersion-bookings` (`record_key`)."""
    topic = str(Topic.IMMERSION_BOOKINGS)
    return Tombstone(topic, record_key(topic, slot_id, {"request_id": request_id}))


class Handlers:
    """The catalogue's event handlers: thin, each one unit of work then the publishes it implies."""

    def __init__(
        self,
        units: UnitsOfWork,
        sink: EventSink,
        metrics: Metrics,
        *,
        consumer: str,
        source: str,
        timezone: str = "Europe/Paris",
        clock: Clock = _utcnow,
        pseudonyms: Pseudonymizer | None = None,
        slot_feed: SlotFeed | None = None,
        nudge: Nudge = _no_nudge,
    ) -> None:
        """`consumer` names the processed marks; `source` is the catalogue's own events' source.

        `pseudonyms` None: the development key's (tests); the service passes the deployment's.
        `slot_feed` None: a request for a slot the read model lacks is refused at once (tests).
        """
        self._units = units
        self._sink = sink
        self._metrics = metrics
        self._consumer = consumer
        self._source = source
        self._tz = ZoneInfo(timezone)
        self._clock = clock
        self._pseudonyms = pseudonyms or Pseudonymizer(DEVELOPMENT_PSEUDONYM_KEY)
        self._slot_feed = slot_feed
        self._nudge = nudge

    async def on_entity(self, event: AnyEvent) -> None:
        """Apply an establishment, vacancy, training or slot event to its read model."""
        applied: bool | None
        if isinstance(event, ev.EstablishmentRegistered | ev.EstablishmentUpdated):
            applied = await self._apply(establishment_row(event.data, event.time), event)
        elif isinstance(event, ev.VacancyPosted | ev.VacancyUpdated | ev.VacancyClosed):
            applied = await self._apply_vacancy(event)
        elif isinstance(event, ev.ShiftAccepted):
            # The first acceptance fills the shift: it leaves the search (a later one changes nothing).
            applied = await self._fill_vacancy(event)
        elif isinstance(event, ev.TrainingSessionPublished | ev.TrainingSessionUpdated):
            applied = await self._apply(training_row(event.data, event.time), event)
        elif isinstance(event, ev.ImmersionSlotOffered | ev.ImmersionSlotUpdated | ev.ImmersionSlotClosed):
            await self._publish(await self._apply_slot(event))
            applied = None
        else:
            return
        outcome = {True: "applied", False: "skipped", None: "handled"}[applied]
        self._metrics.event_handled(event.type, outcome)

    async def _apply(self, row: Row, event: AnyEvent) -> bool:
        """Apply `row` as the effect of `event`, once; False when already applied or stale."""
        async with self._units() as uow:
            if not await self._fresh(uow, event):
                return False
            return await uow.read_models.upsert(row)

    async def _apply_vacancy(self, event: ev.VacancyPosted | ev.VacancyUpdated | ev.VacancyClosed) -> bool:
        """Apply a vacancy's state, its platform hires counted (they may fill it); a vacancy that is
        no longer open withdraws its pending applications (`offer_closed`, `offer_filled`)."""
        row = vacancy_row(event.data, event.time)
        async with self._units() as uow:
            if not await self._fresh(uow, event) or not await uow.read_models.upsert(row):
                return False
            status = row.columns["status"]
            if status == OfferStatus.OPEN and await uow.read_models.settle_hires(row.id, event.time):
                status = OfferStatus.FILLED
            withdrawn = 0
            if status != OfferStatus.OPEN:
                reason = (
                    ApplicationWithdrawalReason.OFFER_FILLED
                    if status == OfferStatus.FILLED
                    else ApplicationWithdrawalReason.OFFER_CLOSED
                )
                withdrawn = await _withdraw_pending(
                    uow, row.id, reason, source=self._source, now=self._clock()
                )
        if withdrawn:
            self._nudge()
        return True

    async def _fill_vacancy(self, event: ev.ShiftAccepted) -> bool:
        """Fill the taken shift's vacancy, once, and withdraw its pending applications; False when
        already done or not open."""
        vacancy_id = event.data.vacancy_id
        async with self._units() as uow:
            if not await self._fresh(uow, event) or not await uow.read_models.fill_vacancy(
                vacancy_id, event.time
            ):
                return False
            withdrawn = await _withdraw_pending(
                uow,
                vacancy_id,
                ApplicationWithdrawalReason.OFFER_FILLED,
                source=self._source,
                now=self._clock(),
            )
        if withdrawn:
            self._nudge()
        return True

    async def _apply_slot(self, event: AnyEvent) -> list[Fact]:
        """Apply an owner's slot event under the slot's lock; the merged state to republish, if any.

        The catalogue's own slot events are skipped: their state was stored in the booking's
        unit of work, and a rebuild from the topics decides the bookings again instead.
        """
        slot = event.data
        key = f"slot-event:{event.source}:{event.id}"
        async with self._units() as uow:
            await uow.bookings.lock_slot(slot.id)
            if not await self._fresh(uow, event):
                # An owner's slot event keeps events only (no tombstone).
                return [f for f in await uow.outcomes.earlier(key) or [] if not isinstance(f, Tombstone)]
            if event.source == self._source:
                return []
            stored = await uow.read_models.slot_versions(slot.id)
            change = booking.owner_change(
                slot,
                await uow.bookings.booked_on(slot.id),
                None if stored is None else stored[0],
                0 if stored is None else stored[1],
            )
            if change is None:
                return []
            row = slot_row(change.slot, event.time)
            row.columns["partner_version"] = slot.version
            await uow.read_models.upsert(row)
            if not change.republish:
                return []
            published: list[Fact] = [
                ev.ImmersionSlotUpdated.build(
                    change.slot,
                    source=self._source,
                    id=f"{slot.id}.v{change.slot.version}",
                    time=self._clock(),
                )
            ]
            await uow.outcomes.keep(key, published)
        return published

    async def on_booking(self, event: AnyEvent) -> None:
        """Decide a request or apply a cancellation, then publish what it gives (again on redelivery)."""
        if isinstance(event, ev.ImmersionRequested):
            await self._slot_read_first(event.data.slot_id, event.data.request_id)
            published = await self._request(event)
            for outcome in published[:1]:
                kind = "erased" if isinstance(outcome, Tombstone) else outcome.type.split(".")[3]
                self._metrics.immersion_outcome(kind)
        elif isinstance(event, ev.ImmersionCancelled):
            published = await self._cancel(event)
        else:
            return
        await self._publish(published)
        log.info("immersion.handled", subject=event.subject, published=[_kind(f) for f in published])

    async def _once(
        self,
        event: AnyEvent,
        slot_id: str,
        key: str,
        decide: Callable[[UnitOfWork], Awaitable[list[Fact] | None]],
    ) -> list[Fact]:
        """Under the slot's lock: the facts kept for `key`, else what `decide` gives, kept.

        `decide` returning None: nothing to publish, nothing kept (a later delivery decides again).
        """
        async with self._units() as uow:
            await uow.bookings.lock_slot(slot_id)
            await self._fresh(uow, event)
            earlier = await uow.outcomes.earlier(key)
            if earlier is not None:
                return earlier
            facts = await decide(uow)
            if facts is not None:
                await uow.outcomes.keep(key, facts)
        return facts or []

    async def _request(self, event: ev.ImmersionRequested) -> list[Fact]:
        """Decide a request under its slot's then its candidate's lock, or find its earlier facts.

        An erased candidate's request (read after the erasure) is not decided: its tombstone is
        the fact, so that compaction removes it from `immersion-bookings`.
        """
        request = event.data

        async def decide(uow: UnitOfWork) -> list[Fact]:
            slot = await uow.read_models.slot(request.slot_id)
            await uow.bookings.lock_candidate(request.candidate_id)
            if await uow.erasures.erased(self._pseudonyms.candidate(request.candidate_id)):
                # Erased before their request was read: nothing to decide, the request to erase.
                return [request_tombstone(request.slot_id, request.request_id)]
            held = await uow.bookings.held_dates(request.candidate_id)
            today = event.time.astimezone(self._tz).date()
            decision = booking.decide(request, slot, held, today)
            now = self._clock()
            if isinstance(decision, booking.Booked):
                await uow.bookings.add(request, now)
                await uow.read_models.upsert(slot_row(decision.slot, now))
            return [*booking.outcome_events(request, decision, None, source=self._source, now=now)]

        return await self._once(event, request.slot_id, f"request:{request.request_id}", decide)

    async def _cancel(self, event: ev.ImmersionCancelled) -> list[Fact]:
        """Give a booked place back; nothing to do for a request that holds no booking."""
        cancelled = event.data

        async def decide(uow: UnitOfWork) -> list[Fact] | None:
            holder = await uow.bookings.holder(cancelled.request_id, cancelled.slot_id)
            if holder != (cancelled.candidate_id, True):
                if await uow.erasures.erased(self._pseudonyms.candidate(cancelled.candidate_id)):
                    # Written after the erasure's tombstone: one more tombstone removes it too.
                    return [request_tombstone(cancelled.slot_id, cancelled.request_id)]
                log.info("immersion.cancel_ignored", request_id=cancelled.request_id, reason="no booking")
                return None
            now = self._clock()
            await uow.bookings.cancel(cancelled.request_id, now)
            slot = await uow.read_models.slot(cancelled.slot_id)
            if slot is None:
                return []
            freed = booking.give_back(slot, await uow.bookings.booked_on(slot.id))
            await uow.read_models.upsert(slot_row(freed, now))
            return [*booking.cancellation_events(cancelled, freed, source=self._source, now=now)]

        return await self._once(event, cancelled.slot_id, f"cancel:{cancelled.request_id}", decide)

    async def _slot_read_first(self, slot_id: str, request_id: str) -> None:
        """Put back (`RetryLater`) a request for a slot not read yet that may be on its way.

        The slot comes on another topic, which may be read later than the request (a restart):
        refusing it as unknown then would be wrong, and final (the outcome is kept).
        """
        if self._slot_feed is None:
            return
        async with self._units() as uow:
            if await uow.read_models.has_slot(slot_id):
                return
        if await self._slot_feed.behind(slot_id, request_id):
            self._metrics.request_waited()  # the consumer logs each retry, with this reason
            raise RetryLater(f"slot {slot_id} may not be read yet: the request waits for it")

    async def on_candidate(self, event: AnyEvent) -> None:
        """Who looks for what where (the observatory's supply); on erasure, forget bookings and requests too."""
        if isinstance(event, ev.CandidateRegistered | ev.ApprenticeRegistered | ev.CandidateUpdated):
            await self._apply(candidate_supply_row(event.data, event.time), event)
        elif isinstance(event, ev.CandidateWithdrawn):
            if event.data.erasure_requested:
                await self.erase_candidate(event.data.candidate_id)
            else:
                await self.erase_entity(SUPPLY, event.data.candidate_id)

    async def erase_entity(self, table: str, id: str) -> None:
        """Delete a tombstoned entity (a later event with any version would bring it back)."""
        async with self._units() as uow:
            await uow.read_models.erase(table, id)

    async def erase_candidate(self, candidate_id: str) -> None:
        """Erase a candidate (the withdrawal or the tombstone on `candidates`, whichever comes first)."""
        await self.erase_entity(SUPPLY, candidate_id)
        erased_applications = await self._erase_applications(candidate_id)
        published = await self._erase_bookings(candidate_id)
        await self._publish(published)
        log.info(
            "candidate.erased",
            candidate_id=candidate_id,
            slots_freed=sum(1 for f in published if not isinstance(f, Tombstone)),
            requests_erased=sum(1 for f in published if isinstance(f, Tombstone)),
            applications_erased=erased_applications,
        )

    async def _erase_applications(self, candidate_id: str) -> int:
        """Delete the candidate's applications, refusals and matches, and queue a tombstone of each
        application's key on `applications` (the outbox relays them after any fact queued before).

        The pseudonym is remembered in the same unit of work: a partner's answer about them read
        later becomes a tombstone too (`Applications.on_application`).
        """
        async with self._units() as uow:
            await uow.erasures.remember(self._pseudonyms.candidate(candidate_id))
            ids = await uow.applications.delete_of(candidate_id)
            await uow.matches.delete_of(candidate_id)
            await uow.outbox.queue([application_tombstone(candidate_id, i) for i in ids])
        if ids:
            self._nudge()
        return len(ids)

    async def _erase_bookings(self, candidate_id: str) -> list[Fact]:
        """Delete the candidate's bookings, blank the outcomes kept for their requests.

        Outcomes stay, emptied, so that a redelivered request of theirs is not decided (and
        booked) again; the candidate is remembered as erased (by pseudonym), so that a request read
        after the erasure is not decided either. A place booked for an immersion not over yet is
        given back: the slot's new state is a fact to publish (it holds no personal data), with a
        tombstone of each of their requests on `immersion-bookings` (every request, booking or
        cancellation the catalogue kept an outcome or a booking for).
        """
        pseudonym = self._pseudonyms.candidate(candidate_id)
        today = self._clock().astimezone(self._tz).date()
        async with self._units() as uow:
            # Slots first, then the candidate: the order `_request` takes its locks in.
            for slot_id in await uow.bookings.slots_of(candidate_id):
                await uow.bookings.lock_slot(slot_id)
            await uow.bookings.lock_candidate(candidate_id)
            # The slots freed by an earlier erasure are republished: its publish may have been
            # cut short by a crash after the commit (the event is then read again).
            earlier = await uow.outcomes.earlier(f"erasure:{pseudonym}") or []
            await uow.erasures.remember(pseudonym)
            requests = await uow.outcomes.blank_candidate(candidate_id)
            deleted = await uow.bookings.delete_of(candidate_id)
            requests |= {(held.slot_id, held.request_id) for held in deleted}
            now = self._clock()
            facts: list[Fact] = []
            for held in sorted(deleted, key=lambda h: h.slot_id):
                if not held.booked or held.end_date < today:
                    continue
                slot = await uow.read_models.slot(held.slot_id)
                if slot is None:
                    continue
                freed = booking.give_back(slot, await uow.bookings.booked_on(slot.id))
                await uow.read_models.upsert(slot_row(freed, now))
                facts.append(
                    ev.ImmersionSlotUpdated.build(
                        freed, source=self._source, id=f"{held.request_id}.erased.slot", time=now
                    )
                )
            facts += [request_tombstone(slot, request) for slot, request in sorted(requests)]
            facts = [*earlier, *facts]
            await uow.outcomes.replace(f"erasure:{pseudonym}", facts)
        return facts

    async def _fresh(self, uow: UnitOfWork, event: AnyEvent) -> bool:
        """Mark the event processed in this unit of work; False when it was already."""
        return await uow.processed.mark(self._consumer, event.source, event.id)

    async def _publish(self, facts: Sequence[Fact]) -> None:
        """Publish events and tombstones in order, each acknowledged before the next."""
        for fact in facts:
            if isinstance(fact, Tombstone):
                await self._sink.tombstone(fact.topic, fact.key)
            else:
                await self._sink.publish(fact)


def _kind(fact: Fact) -> str:
    return "tombstone" if isinstance(fact, Tombstone) else fact.type


APPLICATION_TYPES = frozenset(
    {
        ev.ApplicationSubmitted.TYPE,
        ev.ApplicationAnswered.TYPE,
        ev.ApplicationWithdrawn.TYPE,
        ev.MatchDeclined.TYPE,
    }
)


class Applications:
    """The application state (the `ApplicationDesk` the pages call), the partners' answers and the
    matches read from Kafka, and the clock that closes unanswered applications.

    Each command is one unit of work: the pair's row held (its vacancy's first), `core.applications`
    decides, the new state and its fact are stored together, the fact in the outbox; `nudge` then
    wakes the relay, which publishes it. An unchanged pair queues nothing: a second click publishes
    nothing new.
    """

    def __init__(
        self,
        units: UnitsOfWork,
        *,
        consumer: str,
        source: str,
        timezone: str = "Europe/Paris",
        clock: Clock = _utcnow,
        pseudonyms: Pseudonymizer | None = None,
        nudge: Nudge = _no_nudge,
    ) -> None:
        self._units = units
        self._consumer = consumer
        self._source = source
        self._tz = ZoneInfo(timezone)
        self._clock = clock
        self._pseudonyms = pseudonyms or Pseudonymizer(DEVELOPMENT_PSEUDONYM_KEY)
        self._nudge = nudge

    # --- the desk (ports.ApplicationDesk) -------------------------------------------------------

    async def view(self, candidate_id: str, offer_id: str) -> ApplicationView:
        """The pair's state (`NONE` when nothing happened yet)."""
        async with self._units() as uow:
            record = await uow.applications.get(candidate_id, offer_id)
        return apps.none_view(candidate_id, offer_id) if record is None else record.view()

    async def match(self, candidate_id: str, offer_id: str) -> MatchView | None:
        """The pair's standing match, None when there is none."""
        async with self._units() as uow:
            return await uow.matches.get(candidate_id, offer_id)

    async def submit(
        self, candidate_id: str, offer_id: str, *, message: str | None, share_email: bool, share_phone: bool
    ) -> Outcome:
        """« Je suis intéressé(e) », confirmed: `application.submitted` with the candidate's summary."""
        async with self._units() as uow:
            offer = await uow.read_models.vacancy_offer(offer_id)
            profile = await uow.read_models.candidate_summary(candidate_id)
            refused = self._unknown(candidate_id, offer_id, profile is not None, offer is not None)
            if refused is not None or offer is None:
                return refused or Outcome(
                    apps.none_view(candidate_id, offer_id), False, Refusal.UNKNOWN_OFFER
                )
            record = await uow.applications.hold(apps.blank(candidate_id, offer))
            match = await uow.matches.get(candidate_id, offer_id)
            if match is not None:
                record = replace(record, match_id=match.match_id)
            step = await _act(
                uow,
                apps.submit(
                    record,
                    offer,
                    message=message,
                    shares=p.SharedContact(email=share_email, phone=share_phone),
                    summary=apps.summary_of(profile, match),
                    source=self._source,
                    now=self._clock(),
                    tz=self._tz,
                ),
            )
        return self._done(step)

    async def decline_match(
        self, candidate_id: str, offer_id: str, reason: MatchDeclineReason | None
    ) -> Outcome:
        """« Pas pour moi », confirmed: `match.declined` once."""
        async with self._units() as uow:
            offer = await uow.read_models.vacancy_offer(offer_id)
            known = await uow.read_models.candidate_summary(candidate_id) is not None
            refused = self._unknown(candidate_id, offer_id, known, offer is not None)
            if refused is not None or offer is None:
                return refused or Outcome(
                    apps.none_view(candidate_id, offer_id), False, Refusal.UNKNOWN_OFFER
                )
            record = await uow.applications.get(candidate_id, offer_id) or apps.blank(candidate_id, offer)
            match = await uow.matches.get(candidate_id, offer_id)
            if match is not None:
                record = replace(record, match_id=match.match_id)
            step = await _act(uow, apps.decline_match(record, reason, source=self._source, now=self._clock()))
        return self._done(step)

    async def withdraw(self, candidate_id: str, offer_id: str) -> Outcome:
        """The candidate withdraws: `application.withdrawn` (`candidate`) once."""
        now = self._clock()
        return await self._on_application(
            candidate_id,
            offer_id,
            lambda r: apps.withdraw(r, ApplicationWithdrawalReason.CANDIDATE, source=self._source, now=now),
        )

    async def answer(self, candidate_id: str, offer_id: str, answer: EmployerAnswer) -> Outcome:
        """The employer's one-click answer, confirmed: `application.answered` once; a hire counts."""
        now = self._clock()
        return await self._on_application(
            candidate_id,
            offer_id,
            lambda r: apps.employer_answer(r, answer, source=self._source, now=now),
        )

    async def _on_application(
        self, candidate_id: str, offer_id: str, decide: Callable[[Application], apps.Step]
    ) -> Outcome:
        """A command on an existing application: refused when the offer or the application is unknown."""
        async with self._units() as uow:
            offer = await uow.read_models.vacancy_offer(offer_id)
            record = await uow.applications.get(candidate_id, offer_id)
            if offer is None:
                return Outcome(apps.none_view(candidate_id, offer_id), False, Refusal.UNKNOWN_OFFER)
            if record is None:
                known = await uow.read_models.candidate_summary(candidate_id) is not None
                refusal = Refusal.NOT_SUBMITTED if known else Refusal.UNKNOWN_CANDIDATE
                return Outcome(apps.none_view(candidate_id, offer_id), False, refusal)
            step = await _act(uow, decide(record))
            if step.changed and step.record.state is apps.ApplicationState.HIRED:
                await self._hired(uow, offer_id)
        return self._done(step)

    async def _hired(self, uow: UnitOfWork, offer_id: str) -> None:
        """Count a hire (once: `hired` ends an application); a filled vacancy withdraws the others."""
        now = self._clock()
        if await uow.read_models.count_hire(offer_id, now):
            await _withdraw_pending(
                uow, offer_id, ApplicationWithdrawalReason.OFFER_FILLED, source=self._source, now=now
            )

    async def _fresh(self, uow: UnitOfWork, event: AnyEvent) -> bool:
        """Mark the event processed, under the pseudonym of its id (a match id embeds a candidate
        id, which must not outlive their erasure); False when it was already."""
        return await uow.processed.mark(self._consumer, event.source, self._pseudonyms.of("event", event.id))

    @staticmethod
    def _unknown(candidate_id: str, offer_id: str, candidate: bool, offer: bool) -> Outcome | None:
        """The refusal of a click about an unknown candidate or offer, if so."""
        if candidate and offer:
            return None
        refusal = Refusal.UNKNOWN_CANDIDATE if not candidate else Refusal.UNKNOWN_OFFER
        return Outcome(apps.none_view(candidate_id, offer_id), False, refusal)

    def _done(self, step: apps.Step) -> Outcome:
        """After the commit: wake the relay if a fact was queued; what the page is told."""
        if step.changed:
            self._nudge()
        log.info(
            "application.command",
            application_id=step.record.application_id,
            state=str(step.record.state),
            changed=step.changed,
            refusal=None if step.refusal is None else str(step.refusal),
        )
        return step.outcome()

    # --- Kafka: `applications` and `matches` ----------------------------------------------------

    async def on_application(self, event: AnyEvent) -> None:
        """A fact of `applications`: the catalogue's own come back (already applied: skipped); a
        partner's `application.answered` is applied in the topic's order, like a click."""
        if event.source == self._source or not isinstance(event, ev.ApplicationAnswered):
            return
        data = event.data
        given = EmployerAnswer(data.answer, data.reason)
        async with self._units() as uow:
            await uow.read_models.vacancy_offer(data.offer_id)  # the vacancy's lock first
            if not await self._fresh(uow, event):
                return
            record = await uow.applications.get(data.candidate_id, data.offer_id)
            if record is None:
                if await uow.erasures.erased(self._pseudonyms.candidate(data.candidate_id)):
                    # Written after the erasure's tombstone: one more tombstone removes it.
                    await uow.outbox.queue([application_tombstone(data.candidate_id, data.application_id)])
                    changed = True
                else:
                    log.info(
                        "application.answer_ignored", application_id=data.application_id, why="not submitted"
                    )
                    changed = False
            else:
                after = apps.answer(record, given, now=data.answered_at)
                changed = isinstance(after, Application)
                if isinstance(after, Application):
                    await uow.applications.save(after)
                    if after.state is apps.ApplicationState.HIRED:
                        await self._hired(uow, data.offer_id)
                else:
                    log.info("application.answer_ignored", application_id=data.application_id, why=str(after))
        if changed:
            self._nudge()

    async def on_match(self, event: AnyEvent) -> None:
        """A match found or withdrawn: the pair's match id, distance and reasons (not of an erased person)."""
        async with self._units() as uow:
            if not await self._fresh(uow, event):
                return
            if isinstance(event, ev.MatchFound):
                found = event.data
                if await uow.erasures.erased(self._pseudonyms.candidate(found.candidate_id)):
                    return
                view = MatchView(found.match_id, found.distance_km, tuple(found.reasons))
                await uow.matches.put(found.candidate_id, found.offer_id, view)
            elif isinstance(event, ev.MatchWithdrawn):
                gone = event.data
                await uow.matches.drop(gone.candidate_id, gone.offer_id, gone.match_id)

    async def forget_matches(self, candidate_id: str) -> None:
        """A tombstone on `matches` (the candidate's key): forget their matches."""
        async with self._units() as uow:
            await uow.matches.delete_of(candidate_id)

    # --- the clock ------------------------------------------------------------------------------

    async def close_unanswered(self, batch: int = 200) -> int:
        """Withdraw (`unanswered`) the applications nobody answered by their due day (10 working
        days after submission, in the establishment's département); how many."""
        today = self._clock().astimezone(self._tz).date()
        closed = 0
        while True:
            async with self._units() as uow:
                due = await uow.applications.due(today, batch)
                now = self._clock()
                for record in due:
                    step = await _act(
                        uow,
                        apps.withdraw(
                            record, ApplicationWithdrawalReason.UNANSWERED, source=self._source, now=now
                        ),
                    )
                    closed += step.changed
            if len(due) < batch:
                break
        if closed:
            self._nudge()
            log.info("applications.closed_unanswered", count=closed)
        return closed
