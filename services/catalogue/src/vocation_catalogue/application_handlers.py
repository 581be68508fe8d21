"""The application state's handlers: the `ApplicationDesk` the pages call, the partners' answers and
the matches read from Kafka, and the clock that closes unanswered applications.

Each is one unit of work: the vacancy's row then the pair's held, `core.applications` decides, the
new state and its fact stored together (the fact in the outbox, relayed in order after the commit:
see the README's "Publishing guarantee of the applications").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.topics import Topic, record_key
from vocation_shared.contracts.vocabulary import ApplicationWithdrawalReason, MatchDeclineReason
from vocation_shared.facts import Tombstone
from vocation_shared.logs import get_logger
from vocation_shared.pseudonyms import DEVELOPMENT_PSEUDONYM_KEY, Pseudonymizer

from vocation_catalogue.core import applications as apps
from vocation_catalogue.core.applications import (
    Application,
    ApplicationView,
    EmployerAnswer,
    MatchView,
    Outcome,
    Refusal,
)
from vocation_catalogue.core.pair_matches import net_changes
from vocation_catalogue.ports import UnitOfWork, UnitsOfWork

log = get_logger(__name__)

Clock = Callable[[], datetime]
Nudge = Callable[[], None]
"""Wakes the outbox relay after a commit that queued facts (it also runs on its own, now and then)."""


def no_nudge() -> None:
    """Wakes nothing (tests, and handlers without a relay)."""
    return None


def utcnow() -> datetime:
    """The time now, in UTC."""
    return datetime.now(UTC)


def application_tombstone(candidate_id: str, application_id: str) -> Tombstone:
    """The tombstone of an application: its key on `applications` (`<candidate>/<application id>`)."""
    topic = str(Topic.APPLICATIONS)
    return Tombstone(topic, record_key(topic, candidate_id, {"application_id": application_id}))


async def act(uow: UnitOfWork, step: apps.Step) -> apps.Step:
    """Store a step that changed its pair, and queue its fact in the same unit of work."""
    if step.fact is not None:
        await uow.applications.save(step.record)
        await uow.outbox.queue([step.fact])
    return step


async def withdraw_pending(
    uow: UnitOfWork, offer_id: str, reason: ApplicationWithdrawalReason, *, source: str, now: datetime
) -> int:
    """Withdraw the offer's applications still waiting on the employer (its row is held); how many."""
    steps = [
        await act(uow, apps.withdraw(record, reason, source=source, now=now))
        for record in await uow.applications.pending_of(offer_id)
    ]
    return sum(1 for s in steps if s.changed)


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
        clock: Clock = utcnow,
        pseudonyms: Pseudonymizer | None = None,
        nudge: Nudge = no_nudge,
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
            step = await act(
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
            step = await act(uow, apps.decline_match(record, reason, source=self._source, now=self._clock()))
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
            step = await act(uow, decide(record))
            if step.changed and step.record.state is apps.ApplicationState.HIRED:
                await self._hired(uow, offer_id)
        return self._done(step)

    async def _hired(self, uow: UnitOfWork, offer_id: str) -> None:
        """Count a hire (once: `hired` ends an application); a filled vacancy withdraws the others."""
        now = self._clock()
        if await uow.read_models.count_hire(offer_id, now):
            await withdraw_pending(
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

    async def on_matches(self, events: Sequence[AnyEvent]) -> None:
        """A fetched run of matches found or withdrawn: each pair's match id, distance and reasons
        (none of an erased person), in one unit of work.

        No processed mark: each pair gets one net change that sets a state (`core.pair_matches`), in
        the order of the pair's partition (the candidate's key), so a redelivered run leaves the
        same state; the matches are the busiest topic the catalogue reads (≈ 50 per offer).
        """
        facts = [e for e in events if isinstance(e, ev.MatchFound | ev.MatchWithdrawn)]
        if not facts:
            return
        pseudonyms = {self._pseudonyms.candidate(c): c for c in {f.data.candidate_id for f in facts}}
        async with self._units() as uow:
            erased = await uow.erasures.erased_among(pseudonyms.keys())
            await uow.matches.apply(net_changes(facts, frozenset(pseudonyms[e] for e in erased)))

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
                    step = await act(
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
