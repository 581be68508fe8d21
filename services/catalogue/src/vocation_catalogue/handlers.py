"""The application layer: one method per event, each one unit of work, then the facts it gives.

A handler reads what it needs through the unit of work's repositories, asks `core` to decide,
stores the effect with the event's processed mark and the facts to publish (`uow.outcomes`), and
publishes those facts once the unit of work is committed. A redelivered event finds its facts
kept and publishes them again, the same (see the README's "Publishing guarantee").

The application state's handlers (`Applications`, the pages' `ApplicationDesk`) are in
`application_handlers.py`, named here too: `handlers.Applications`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from zoneinfo import ZoneInfo

from vocation_shared.contracts import events as ev
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.topics import Topic, record_key
from vocation_shared.contracts.vocabulary import (
    ApplicationWithdrawalReason,
    OfferStatus,
)
from vocation_shared.facts import Fact, Tombstone
from vocation_shared.logs import get_logger
from vocation_shared.pseudonyms import DEVELOPMENT_PSEUDONYM_KEY, Pseudonymizer

from vocation_catalogue.application_handlers import APPLICATION_TYPES as APPLICATION_TYPES
from vocation_catalogue.application_handlers import Applications as Applications
from vocation_catalogue.application_handlers import Clock as Clock
from vocation_catalogue.application_handlers import Nudge, no_nudge, utcnow, withdraw_pending
from vocation_catalogue.application_handlers import application_tombstone as application_tombstone
from vocation_catalogue.core import booking
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
        clock: Clock = utcnow,
        pseudonyms: Pseudonymizer | None = None,
        slot_feed: SlotFeed | None = None,
        nudge: Nudge = no_nudge,
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
                withdrawn = await withdraw_pending(
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
            withdrawn = await withdraw_pending(
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
