"""An application's state as the pages show it, and what a candidate's or employer's click gives.

These value types are the contract between the pages (`adapters/pages`) and the application
layer (`handlers.py`, `ApplicationDesk` in `ports.py`); the state machine itself lives here too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, tzinfo
from enum import StrEnum

from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.vocabulary import (
    ApplicationAnswer,
    ApplicationDeclineReason,
    ApplicationWithdrawalReason,
    MatchDeclineReason,
    OfferKind,
)
from vocation_shared.working_days import add_working_days


class ApplicationState(StrEnum):
    """Where one (candidate, offer) pair stands."""

    NONE = "none"
    """Nothing yet: the candidate has neither applied nor declined."""
    MATCH_DECLINED = "match_declined"
    """« Pas pour moi »: the candidate declined the match (may still apply later)."""
    SUBMITTED = "submitted"
    INTERVIEW_PROPOSED = "interview_proposed"
    DECLINED = "declined"
    HIRED = "hired"
    WITHDRAWN = "withdrawn"


ENDED = frozenset({ApplicationState.DECLINED, ApplicationState.HIRED, ApplicationState.WITHDRAWN})
"""States after which no answer changes anything (an application may be submitted again after a
withdrawal: it reopens the same id)."""


@dataclass(frozen=True, slots=True)
class ApplicationView:
    """What a page needs to know about one pair."""

    application_id: str
    state: ApplicationState
    decline_reason: ApplicationDeclineReason | None = None
    withdrawal_reason: ApplicationWithdrawalReason | None = None
    match_decline_reason: MatchDeclineReason | None = None


@dataclass(frozen=True, slots=True)
class MatchView:
    """What the catalogue knows of the match of a pair (from `matches`): for the personal page."""

    match_id: str
    distance_km: float | None
    reasons: tuple[str, ...]


class Refusal(StrEnum):
    """Why a click could not act (the page says so in French)."""

    UNKNOWN_CANDIDATE = "unknown_candidate"
    """No such candidate (erased, withdrawn, or never known)."""
    UNKNOWN_OFFER = "unknown_offer"
    OFFER_CLOSED = "offer_closed"
    """The offer is closed or filled: nobody may apply any more."""
    ENDED = "ended"
    """The application already ended (an answer after the end changes nothing)."""
    NOT_SUBMITTED = "not_submitted"
    """An employer's answer or a withdrawal about an application that does not exist."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a confirming POST did: the state after it, and whether this very call changed it."""

    view: ApplicationView
    changed: bool
    refusal: Refusal | None = None


@dataclass(frozen=True, slots=True)
class EmployerAnswer:
    """An employer's one-click answer."""

    answer: ApplicationAnswer
    reason: ApplicationDeclineReason | None = None


# --- the state machine (pure) -------------------------------------------------------------------

ANSWER_DAYS = 10
"""Working days an employer has to answer before the application closes as unanswered."""
PENDING = frozenset({ApplicationState.SUBMITTED, ApplicationState.INTERVIEW_PROPOSED})
"""States of an application waiting on the employer: withdrawn when the offer closes or fills."""
_ANSWERED = {
    ApplicationAnswer.INTERVIEW_PROPOSED: ApplicationState.INTERVIEW_PROPOSED,
    ApplicationAnswer.DECLINED: ApplicationState.DECLINED,
    ApplicationAnswer.HIRED: ApplicationState.HIRED,
}


@dataclass(frozen=True, slots=True)
class Offer:
    """What a decision needs of the offer a pair is about."""

    id: str
    kind: OfferKind
    open: bool
    departement: str
    rome_code: str


@dataclass(frozen=True, slots=True)
class Application:
    """One pair's stored state (`applications` row): `revision` counts its changes and names its facts."""

    candidate_id: str
    offer_id: str
    offer_kind: OfferKind
    departement: str
    rome_code: str
    state: ApplicationState = ApplicationState.NONE
    revision: int = 0
    match_id: str | None = None
    decline_reason: ApplicationDeclineReason | None = None
    withdrawal_reason: ApplicationWithdrawalReason | None = None
    match_decline_reason: MatchDeclineReason | None = None
    submitted_at: datetime | None = None
    answer_due: date | None = None
    first_answer_at: datetime | None = None
    interview_proposed_at: datetime | None = None

    @property
    def application_id(self) -> str:
        """The pair's id (`application_id_of`)."""
        return p.application_id_of(self.candidate_id, self.offer_id)

    def view(self) -> ApplicationView:
        """What the pages show of it."""
        return ApplicationView(
            self.application_id,
            self.state,
            self.decline_reason,
            self.withdrawal_reason,
            self.match_decline_reason,
        )


def blank(candidate_id: str, offer: Offer) -> Application:
    """A pair about which nothing happened yet."""
    return Application(candidate_id, offer.id, offer.kind, offer.departement, offer.rome_code)


def none_view(candidate_id: str, offer_id: str) -> ApplicationView:
    """The view of a pair without a row."""
    return ApplicationView(p.application_id_of(candidate_id, offer_id), ApplicationState.NONE)


@dataclass(frozen=True, slots=True)
class Step:
    """What a command does to a pair: the record after it, the fact to publish (None: unchanged),
    and why it could not act."""

    record: Application
    fact: AnyEvent | None = None
    refusal: Refusal | None = None

    @property
    def changed(self) -> bool:
        """Whether the command changed the pair (then `fact` tells it)."""
        return self.fact is not None

    def outcome(self) -> Outcome:
        """What the page is told."""
        return Outcome(self.record.view(), self.changed, self.refusal)


def _event_id(record: Application) -> str:
    return f"{record.application_id}.{record.revision}"


def _refused(record: Application, refusal: Refusal) -> Step:
    return Step(record, None, refusal)


def submit(
    record: Application,
    offer: Offer,
    *,
    message: str | None,
    shares: p.SharedContact,
    summary: p.CandidateSummary,
    source: str,
    now: datetime,
    tz: tzinfo,
) -> Step:
    """« Je suis intéressé(e) »: a new application, or one reopened after a withdrawal.

    An application already pending is unchanged; an ended one (declined, hired) is refused; so is a
    submit to an offer that is no longer open.
    """
    if record.state in PENDING:
        return Step(record)
    if record.state in (ApplicationState.DECLINED, ApplicationState.HIRED):
        return _refused(record, Refusal.ENDED)
    if not offer.open:
        return _refused(record, Refusal.OFFER_CLOSED)
    after = replace(
        record,
        state=ApplicationState.SUBMITTED,
        revision=record.revision + 1,
        decline_reason=None,
        withdrawal_reason=None,
        submitted_at=now,
        answer_due=add_working_days(now.astimezone(tz).date(), ANSWER_DAYS, record.departement),
        first_answer_at=None,
        interview_proposed_at=None,
    )
    data = p.ApplicationSubmitted(
        application_id=after.application_id,
        candidate_id=after.candidate_id,
        offer_id=after.offer_id,
        offer_kind=after.offer_kind,
        match_id=after.match_id,
        message=message or None,
        shares=shares,
        summary=summary,
        submitted_at=now,
    )
    return Step(after, ev.ApplicationSubmitted.build(data, source=source, id=_event_id(after), time=now))


def decline_match(
    record: Application, reason: MatchDeclineReason | None, *, source: str, now: datetime
) -> Step:
    """« Pas pour moi »: once per pair until the candidate applies; an applied pair is unchanged
    (an ended one refused), a withdrawn one may decline."""
    if record.state is ApplicationState.MATCH_DECLINED or record.state in PENDING:
        return Step(record)
    if record.state in (ApplicationState.DECLINED, ApplicationState.HIRED):
        return _refused(record, Refusal.ENDED)
    after = replace(
        record,
        state=ApplicationState.MATCH_DECLINED,
        revision=record.revision + 1,
        match_decline_reason=reason,
    )
    data = p.MatchDeclined(
        application_id=after.application_id,
        candidate_id=after.candidate_id,
        offer_id=after.offer_id,
        offer_kind=after.offer_kind,
        match_id=after.match_id,
        reason=reason,
        declined_at=now,
    )
    return Step(after, ev.MatchDeclined.build(data, source=source, id=_event_id(after), time=now))


def withdraw(record: Application, reason: ApplicationWithdrawalReason, *, source: str, now: datetime) -> Step:
    """End a pending application without an answer: the candidate, the clock (only while nobody
    answered) or the offer closed or filled."""
    if record.state is ApplicationState.WITHDRAWN:
        return Step(record)
    if record.state in (ApplicationState.DECLINED, ApplicationState.HIRED):
        return _refused(record, Refusal.ENDED)
    if record.state not in PENDING:
        return _refused(record, Refusal.NOT_SUBMITTED)
    if reason is ApplicationWithdrawalReason.UNANSWERED and record.state is not ApplicationState.SUBMITTED:
        return Step(record)  # answered meanwhile: the clock no longer runs
    after = replace(
        record, state=ApplicationState.WITHDRAWN, revision=record.revision + 1, withdrawal_reason=reason
    )
    data = p.ApplicationWithdrawn(
        application_id=after.application_id,
        candidate_id=after.candidate_id,
        offer_id=after.offer_id,
        reason=reason,
        withdrawn_at=now,
    )
    return Step(after, ev.ApplicationWithdrawn.build(data, source=source, id=_event_id(after), time=now))


def answer(record: Application, given: EmployerAnswer, *, now: datetime) -> Application | Refusal | None:
    """The employer's answer applied to a pair: the record after it, None when it is already so
    (the same answer twice), or why it is ignored (nothing submitted; ended: an answer after the end)."""
    target = _ANSWERED[given.answer]
    if record.state is target:
        return None
    if record.state in ENDED:
        return Refusal.ENDED
    if record.state not in PENDING:
        return Refusal.NOT_SUBMITTED
    return replace(
        record,
        state=target,
        revision=record.revision + 1,
        decline_reason=given.reason if target is ApplicationState.DECLINED else None,
        first_answer_at=record.first_answer_at or now,
        interview_proposed_at=record.interview_proposed_at
        or (now if target is ApplicationState.INTERVIEW_PROPOSED else None),
    )


def answered_event(record: Application, given: EmployerAnswer, *, source: str, now: datetime) -> AnyEvent:
    """The fact of an employer's answer given on the platform's pages."""
    data = p.ApplicationAnswered(
        application_id=record.application_id,
        candidate_id=record.candidate_id,
        offer_id=record.offer_id,
        answer=given.answer,
        reason=given.reason,
        answered_at=now,
    )
    return ev.ApplicationAnswered.build(data, source=source, id=_event_id(record), time=now)


def employer_answer(record: Application, given: EmployerAnswer, *, source: str, now: datetime) -> Step:
    """An answer clicked on the platform's page: `answer`, and its fact when it changed the pair."""
    after = answer(record, given, now=now)
    if after is None:
        return Step(record)
    if isinstance(after, Refusal):
        return _refused(record, after)
    return Step(after, answered_event(after, given, source=source, now=now))


def summary_of(profile: p.CandidateSummary | None, match: MatchView | None) -> p.CandidateSummary:
    """The candidate's summary for the employer: their diplomas, experience and availability, with
    the distance and reasons of the pair's match when there is one."""
    base = profile or p.CandidateSummary()
    if match is None:
        return base
    return base.model_copy(update={"distance_km": match.distance_km, "reasons": list(match.reasons)[:5]})
