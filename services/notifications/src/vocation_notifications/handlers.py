"""The application layer: one method per event or command, each in one unit of work.

Every consumed topic comes **per fetched batch**: a batch's fresh events are applied in one unit
of work with their processed marks (a redelivered or replayed event is skipped). `matches` and
`candidate-contacts` are applied with a few multi-row statements per batch (`core.batches`
decides, in the events' order); the read models and bookings (a few events) one event after the
other, still in one unit of work. A tombstone on `candidate-contacts` is an erasure, applied in its
place in the order. Handlers publish nothing themselves: the facts they cause are recorded in the
event outbox (`uow.events`) in the same transaction and published by the delivery worker. The one
exception is an opt-out (`withdraw`): it is published first, the topic being its source of truth.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta

from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.topics import Topic
from vocation_shared.contracts.vocabulary import Channel, ConsentOrigin, NotificationPurpose
from vocation_shared.links import Link
from vocation_shared.logs import get_logger
from vocation_shared.pseudonyms import DEVELOPMENT_PSEUDONYM_KEY, Pseudonymizer

from vocation_notifications.core.applications import (
    EMPLOYER_PURPOSES,
    plan_answered,
    plan_renewal,
    plan_submitted,
    plan_withdrawn,
)
from vocation_notifications.core.batches import distinct_events, latest_contacts, plan_match_steps
from vocation_notifications.core.consent import (
    SERVICE_ORIGINS,
    ConsentMark,
    mark_of,
    opt_out_state,
    stated_here,
)
from vocation_notifications.core.facts import OutcomeEvents
from vocation_notifications.core.model import NotificationRef, RecipientKind
from vocation_notifications.core.planning import plan_booking, plan_refusal
from vocation_notifications.core.policy import Policy
from vocation_notifications.ports import Clock, Metrics, Publisher, UnitOfWork, UnitsOfWork

log = get_logger(__name__)
HOUR = timedelta(hours=1)

BOOKING_PURPOSES = (
    NotificationPurpose.IMMERSION_BOOKED,
    NotificationPurpose.IMMERSION_BOOKED_HOST,
    NotificationPurpose.IMMERSION_REMINDER,
)
MATCH_PURPOSES = (NotificationPurpose.MATCH, NotificationPurpose.URGENT_SHIFT)

OneEvent = Callable[[UnitOfWork, AnyEvent], Awaitable[bool]]


class Handlers:
    """The service's reactions to events and its commands (opt-outs)."""

    def __init__(
        self,
        units: UnitsOfWork,
        facts: OutcomeEvents,
        clock: Clock,
        policy: Policy,
        consumer_group: str,
        *,
        metrics: Metrics,
        publisher: Publisher | None = None,
        pseudonyms: Pseudonymizer | None = None,
        on_planned: Callable[[], None] | None = None,
    ) -> None:
        """`pseudonyms` None: the development key's (tests); the service passes the deployment's."""
        self._units = units
        self._pseudonyms = pseudonyms or Pseudonymizer(DEVELOPMENT_PSEUDONYM_KEY)
        self._facts = facts
        self._clock = clock
        self._policy = policy
        self._consumer_group = consumer_group
        self._publisher = publisher
        self._on_planned = on_planned or (lambda: None)
        self._metrics = metrics

    def group(self, topic: Topic) -> str:
        """The consumer group (and processed-events consumer name) for a topic."""
        return f"{self._consumer_group}-{topic}"

    async def _fresh(self, uow: UnitOfWork, topic: Topic, events: Sequence[AnyEvent]) -> list[AnyEvent]:
        """Mark the batch's events processed; the ones not seen before, once each, in order.

        A mark keeps the pseudonym of the event id (a match id embeds a candidate id).
        """
        distinct = distinct_events(events)
        keys = [(e.source, self.processed_key(e.id)) for e in distinct]
        new = await uow.processed.mark_many(self.group(topic), keys)
        return [e for e, key in zip(distinct, keys, strict=True) if key in new]

    def processed_key(self, event_id: str) -> str:
        """What `processed_events` keeps of an event id: its pseudonym."""
        return self._pseudonyms.of("event", event_id)

    async def _suppressed(self, uow: UnitOfWork, refs: Iterable[NotificationRef], now: datetime) -> None:
        """Record the `notification.suppressed` fact of each suppressed row."""
        await uow.events.queue(self._facts.suppressed(r, now, r.why) for r in refs if r.why is not None)

    async def _one_by_one(self, topic: Topic, events: list[AnyEvent], apply: OneEvent) -> None:
        """Apply each fresh event of a batch in order, all in one unit of work."""
        planned = False
        async with self._units() as uow:
            for event in await self._fresh(uow, topic, events):
                planned = await apply(uow, event) or planned
        if planned:
            self._on_planned()

    # --- contacts ---

    async def on_contacts(self, events: list[AnyEvent]) -> None:
        """ContactRegistered / ConsentUpdated: store each candidate's newest full state; wake what waited.

        A `consent-updated`'s change is remembered whatever its version (`core.consent.mark_of`): a
        withdrawal suppresses the channel, the candidate's own newer re-consent lifts it. A state
        claiming a suppressed channel is stored (its contact changes apply) with the channel kept
        off, and that is said (`contact.opt_out_kept`, `..._opt_out_kept_total`).
        """
        now = self._clock.now()
        async with self._units() as uow:
            fresh = await self._fresh(uow, Topic.CANDIDATE_CONTACTS, events)
            states = [e.data for e in fresh if isinstance(e, ev.ContactRegistered | ev.ConsentUpdated)]
            marks = [
                mark
                for e in fresh
                if isinstance(e, ev.ConsentUpdated) and (mark := mark_of(e.data, now)) is not None
            ]
            contacts = latest_contacts(states)
            ours = latest_contacts(states, stated_here_only=True)  # our opt-outs: fill a gap only
            touched = {c.candidate_id for c in contacts + ours} | {m.candidate_id for m in marks}
            # Contact rows first, then suppressions: the order an opt-out takes them in too.
            await uow.contacts.lock(touched)
            applied = await uow.contacts.save_many(contacts)
            applied_set = set(applied)
            filled = await uow.contacts.add_missing(ours)
            await uow.contacts.record_consent_marks(marks)
            kept_off = await uow.contacts.refresh_channels(touched)
            # A claim is "kept off" when the candidate's newest state read is a partner's (an
            # opt-out later in the same batch already says it all).
            newest_is_partner = {state.candidate_id: not stated_here(state) for state in states}
            claimed_off = {
                cid: off for cid, off in kept_off.items() if cid in applied_set and newest_is_partner.get(cid)
            }
            restated = await self._restate_opt_outs(uow, claimed_off, now)
            # What waited for these contacts is decided now, not at its next retry.
            woken = await uow.outbox.wake_many(applied + filled, RecipientKind.CANDIDATE, now)
        for candidate_id, off in sorted(claimed_off.items()):
            for channel in sorted(off):
                self._metrics.opt_out_kept(channel)
            log.warning(
                "contact.opt_out_kept",
                recipient_id=candidate_id,
                channels=sorted(str(c) for c in off),
                why="opted out; only the candidate's own newer consent lifts it",
            )
        log.info(
            "contacts.saved",
            events=len(events),
            fresh=len(fresh),
            candidates=len(contacts),
            applied=len(applied),
            filled=len(filled),
            consent_changes=len(marks),
            opt_outs_kept=len(claimed_off),
            opt_outs_restated=restated,
            woken=woken,
        )
        if applied or filled or marks:
            self._on_planned()

    async def _restate_opt_outs(
        self, uow: UnitOfWork, claimed_off: dict[str, frozenset[Channel]], now: datetime
    ) -> int:
        """Queue a `consent-updated` restating each STOP or unsubscribe a partner's state claimed back.

        The topic is compacted by candidate: its newest record is what a rebuild reads. After a
        partner's claim that record would say "SMS consented"; the restatement (published by the
        worker, like every fact of ours) makes it say the opt-out again. A withdrawal stated by a
        partner is the partner's own record and is not restated (the service may state only STOP
        and unsubscribe changes).
        """
        if not claimed_off:
            return 0
        ids = sorted(claimed_off)
        contacts = await uow.contacts.get_many(ids)
        suppressions = await uow.contacts.suppressed_channels(ids)
        events: list[AnyEvent] = []
        for candidate_id in ids:
            contact = contacts.get(candidate_id)
            for channel in sorted(claimed_off[candidate_id]):
                record = suppressions.get(candidate_id, {}).get(channel)
                if contact is None or record is None or record.suppressed_at is None:
                    continue
                if record.origin not in SERVICE_ORIGINS:
                    continue
                data = opt_out_state(contact, channel, record.origin, record.suppressed_at)
                events.append(self._facts.opt_out_restated(data, now))
        await uow.events.queue(events)
        return len(events)

    async def on_contact_erased(self, candidate_id: str) -> None:
        """Tombstone on candidate-contacts: erase the contact and everything still to send."""
        suppressed = await self._erase(candidate_id)
        log.info("contact.erased", recipient_id=candidate_id, suppressed=suppressed)

    async def on_matches_erased(self, candidate_id: str) -> None:
        """Tombstone on `matches` (matching's erasure, after every match of the candidate): erase again.

        The contact's tombstone comes on another topic and may be read first: a match read in
        between was planned for nobody. Erasing again here, after every match of the candidate,
        leaves none of it (idempotent; nothing happens for a candidate with no row here).
        """
        suppressed = await self._erase(candidate_id)
        log.info("matches.erased", recipient_id=candidate_id, suppressed=suppressed)

    async def _erase(self, candidate_id: str) -> int:
        """Forget the contact and its suppressions, suppress (`erased`, published) what was still to
        send, keep the rows under the candidate's pseudonym, then tombstone `notifications`; how
        many rows were suppressed."""
        now = self._clock.now()
        async with self._units() as uow:
            await uow.contacts.erase(candidate_id)
            # A restatement not published yet carries the contact: published after the tombstone,
            # it would bring the person back on the topic.
            await uow.events.drop_consent_updates(candidate_id)
            suppressed = await uow.outbox.erase(candidate_id)
            await self._suppressed(uow, suppressed, now)
            if await uow.outbox.keep_under_pseudonym(candidate_id, self._pseudonyms):
                # After their `notification.*` facts (the suppressions just queued included):
                # compaction removes every record about them from `notifications`, keyed by recipient.
                await uow.events.queue_tombstone(str(Topic.NOTIFICATIONS), candidate_id)
        self._on_planned()
        return len(suppressed)

    # --- read models ---

    async def on_establishments(self, events: list[AnyEvent]) -> None:
        """A batch of `establishments`."""
        await self._one_by_one(Topic.ESTABLISHMENTS, events, self.on_establishment)

    async def on_establishment(self, uow: UnitOfWork, event: AnyEvent) -> bool:
        """Keep the establishment's name and tutor address; wake what waited for that address."""
        if isinstance(event, ev.EstablishmentRegistered | ev.EstablishmentUpdated):
            await uow.snapshots.save_establishment(event.data)
            if event.data.immersion_contact_email is not None:
                woken = await uow.outbox.wake_many(
                    [event.data.id], RecipientKind.ESTABLISHMENT, self._clock.now()
                )
                return woken > 0
        return False

    async def on_slots(self, events: list[AnyEvent]) -> None:
        """A batch of `immersion-slots`."""
        await self._one_by_one(Topic.IMMERSION_SLOTS, events, self.on_slot)

    async def on_slot(self, uow: UnitOfWork, event: AnyEvent) -> bool:
        """Keep the immersion slot's essentials."""
        if isinstance(event, ev.ImmersionSlotOffered | ev.ImmersionSlotUpdated | ev.ImmersionSlotClosed):
            await uow.snapshots.save_slot(event.data)
        return False

    # --- matches ---

    async def on_matches(self, events: list[AnyEvent]) -> None:
        """MatchFound plans one row per consented channel; MatchWithdrawn suppresses what is unsent.

        One unit of work: the processed marks, the batch's contacts in one query, then per step
        (`core.batches.plan_match_steps`, almost always one) one multi-row insert and one update.
        """
        now = self._clock.now()
        added = withdrawn = 0
        async with self._units() as uow:
            fresh = await self._fresh(uow, Topic.MATCHES, events)
            facts: list[p.MatchFound | p.MatchWithdrawn] = []
            stale = 0
            for e in fresh:
                if isinstance(e, ev.MatchFound) and self._policy.too_old(e.time, now, urgent=e.data.urgent):
                    stale += 1  # a replay, or a long outage: old news is not told (a withdrawal is)
                elif isinstance(e, ev.MatchFound | ev.MatchWithdrawn):
                    facts.append(e.data)
            wanted = {f.candidate_id for f in facts if isinstance(f, p.MatchFound)}
            contacts = await uow.contacts.get_many(wanted) if wanted else {}
            steps = plan_match_steps(facts, contacts, now, self._policy)
            for step in steps:
                planned = await uow.outbox.plan_many(step.rows, now)
                await self._suppressed(uow, planned, now)
                count, suppressed = await uow.outbox.withdraw_many(step.withdrawals, MATCH_PURPOSES)
                await self._suppressed(uow, suppressed, now)
                added += len(planned)
                withdrawn += count
        log.info(
            "matches.planned",
            events=len(events),
            fresh=len(fresh),
            steps=len(steps),
            added=added,
            withdrawn=withdrawn,
            too_old=stale,
        )
        if stale:
            self._metrics.too_old("match", stale)
            log.warning(
                "matches.too_old_to_tell", matches=stale, max_age_h=self._policy.notice_max_age / HOUR
            )
        if added or withdrawn:
            self._on_planned()

    # --- bookings ---

    async def on_bookings(self, events: list[AnyEvent]) -> None:
        """A batch of `immersion-bookings`."""
        await self._one_by_one(Topic.IMMERSION_BOOKINGS, events, self.on_booking)

    async def on_booking(self, uow: UnitOfWork, event: AnyEvent) -> bool:
        """Booked: candidate, host tutor, reminder. Refused: candidate. Cancelled: unsent ones withdrawn."""
        now = self._clock.now()
        if isinstance(event, ev.ImmersionBooked | ev.ImmersionRefused) and self._policy.too_old(
            event.time, now
        ):
            self._metrics.too_old("booking")
            log.warning(
                "booking.too_old_to_tell", request_id=event.data.request_id, event_time=event.time.isoformat()
            )
            return False
        if isinstance(event, ev.ImmersionBooked):
            data = event.data
            contact = await uow.contacts.get(data.candidate_id)
            slot = await uow.snapshots.slot_snapshot(data.slot_id, data.places_left)
            rows = plan_booking(data, contact, slot, booked_at=event.time, now=now, policy=self._policy)
            planned = await uow.outbox.plan(rows, now)
            await self._suppressed(uow, planned, now)
            return len(planned) > 0
        if isinstance(event, ev.ImmersionRefused):
            data_r = event.data
            contact = await uow.contacts.get(data_r.candidate_id)
            slot = await uow.snapshots.slot_snapshot(data_r.slot_id, None)
            planned = await uow.outbox.plan(plan_refusal(data_r, contact, slot, now), now)
            await self._suppressed(uow, planned, now)
            return len(planned) > 0
        if isinstance(event, ev.ImmersionCancelled):
            withdrawn = await uow.outbox.withdraw_related(event.data.request_id, BOOKING_PURPOSES)
            await self._suppressed(uow, withdrawn, now)
            return len(withdrawn) > 0
        return False

    # --- vacancies and applications ---

    async def on_vacancies(self, events: list[AnyEvent]) -> None:
        """A batch of `vacancies`."""
        await self._one_by_one(Topic.VACANCIES, events, self.on_vacancy)

    async def on_vacancy(self, uow: UnitOfWork, event: AnyEvent) -> bool:
        """Keep what an application's messages show of a vacancy (title, site, partner page, recruiting
        contact); wake the recruiter's messages that waited for it."""
        if isinstance(event, ev.VacancyPosted | ev.VacancyUpdated | ev.VacancyClosed):
            await uow.snapshots.save_vacancy(event.data)
            woken = await uow.outbox.wake_many([event.data.id], RecipientKind.RECRUITER, self._clock.now())
            return woken > 0
        return False

    async def on_applications(self, events: list[AnyEvent]) -> None:
        """A batch of `applications`."""
        await self._one_by_one(Topic.APPLICATIONS, events, self.on_application)

    async def on_application(self, uow: UnitOfWork, event: AnyEvent) -> bool:
        """Submitted: the recruiting contact's email and its one reminder. Answered: the candidate told,
        the reminder dropped. Withdrawn: the reminder (and an employer's email not sent yet) dropped,
        the candidate told when the application closed without them.

        Every message is keyed by (application, purpose): a replay plans nothing new.
        """
        now = self._clock.now()
        planned: list[NotificationRef] = []
        if isinstance(event, ev.ApplicationSubmitted):
            if self._policy.too_old(event.time, now):
                self._metrics.too_old("application")
                log.warning("application.too_old_to_tell", application_id=event.data.application_id)
                return False
            departement = await uow.snapshots.vacancy_departement(event.data.offer_id)
            planned = await uow.outbox.plan(plan_submitted(event.data, departement, now, self._policy), now)
        elif isinstance(event, ev.ApplicationAnswered):
            dropped = await uow.outbox.withdraw_related(
                event.data.application_id, [NotificationPurpose.APPLICATION_REMINDER]
            )
            await self._suppressed(uow, dropped, now)
            contact = await uow.contacts.get(event.data.candidate_id)
            planned = await uow.outbox.plan(plan_answered(event.data, contact, now), now)
        elif isinstance(event, ev.ApplicationWithdrawn):
            dropped = await uow.outbox.withdraw_related(event.data.application_id, EMPLOYER_PURPOSES)
            await self._suppressed(uow, dropped, now)
            contact = await uow.contacts.get(event.data.candidate_id)
            planned = await uow.outbox.plan(plan_withdrawn(event.data, contact, now), now)
        await self._suppressed(uow, planned, now)
        return len(planned) > 0

    async def renew_link(self, link: Link) -> None:
        """A genuine expired link: a fresh one for the same action, candidate and offer, sent once per
        (pair, action, local day) to the candidate, or to the recruiting contact for an employer's."""
        now = self._clock.now()
        async with self._units() as uow:
            contact = await uow.contacts.get(link.candidate_id)
            planned = await uow.outbox.plan(plan_renewal(link, contact, now, self._policy), now)
            await self._suppressed(uow, planned, now)
        log.info("link.renewal_planned", action=str(link.action), planned=len(planned))
        if planned:
            self._on_planned()

    # --- commands: opt-outs -----------------------------------------------------------------------

    async def withdraw(self, candidate_id: str, channel: Channel, origin: ConsentOrigin) -> bool:
        """Suppress `channel` (a STOP reply or an unsubscribe); False when there was nothing to do
        (unknown contact, already suppressed).

        Also when the channel is not in use today: a partner's later state claiming it keeps it off.
        The `consent-updated` event (the full contact state and the change) is published first
        (acks=all: the topic is the source of truth, a replay must not bring the consent back),
        then the suppression is recorded here at once so that sending stops even before our own
        event comes back through the consumer (the same mark again: idempotent). The published
        state keeps the partner's version (`core.consent.opt_out_state`): the partner's next
        contact change is newer and applies, the channel staying off.
        """
        if self._publisher is None:
            raise RuntimeError("an opt-out needs a publisher")
        async with self._units() as uow:
            contact = await uow.contacts.get(candidate_id)
            if contact is None:
                return False
            active = await uow.contacts.suppressed_channels([candidate_id])
        if channel in active.get(candidate_id, {}):
            return False
        now = self._clock.now()
        await self._publisher.publish(self._facts.opt_out(opt_out_state(contact, channel, origin, now), now))
        mark = ConsentMark(candidate_id, channel, now, origin, lifts=False)
        async with self._units() as uow:
            await uow.contacts.lock([candidate_id])
            await uow.contacts.record_consent_marks([mark])
            await uow.contacts.refresh_channels([candidate_id])
        self._metrics.consent_withdrawn(origin)
        log.info("consent.withdrawn", recipient_id=candidate_id, channel=str(channel), origin=str(origin))
        return True

    async def stop_reply(self, phone: str) -> int:
        """A STOP reply from `phone`: withdraw SMS consent of every candidate at that number."""
        async with self._units() as uow:
            candidates = await uow.contacts.with_phone(phone)
        done = 0
        for candidate_id in candidates:
            done += await self.withdraw(candidate_id, Channel.SMS, ConsentOrigin.SMS_STOP)
        return done
