"""An application's state as the pages show it, and what a candidate's or employer's click gives.

These value types are the contract between the pages (`adapters/pages`) and the application
layer (`handlers.py`, `ApplicationDesk` in `ports.py`); the state machine itself lives here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vocation_shared.contracts.vocabulary import (
    ApplicationAnswer,
    ApplicationDeclineReason,
    ApplicationWithdrawalReason,
    MatchDeclineReason,
)


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
