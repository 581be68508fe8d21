"""Event builders of the catalogue's tests, on real communes of the Ain and the Landes, and a fixed clock."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.vocabulary import (
    ApplicationAnswer,
    ApplicationDeclineReason,
    MatchWithdrawalReason,
    OfferKind,
)
from vocation_shared.testing import samples

TODAY = date(2026, 11, 22)
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def run_id() -> str:
    """A short unique id for the entities and groups of one test."""
    return uuid.uuid4().hex[:10]


def vacancy_event(
    vacancy_id: str,
    *,
    version: int = 1,
    kind: type[ev.VacancyPosted] | type[ev.VacancyUpdated] | type[ev.VacancyClosed] = ev.VacancyPosted,
    at: datetime = NOW,
    event_id: str | None = None,
    **fields: Any,
) -> AnyEvent:
    """A vacancy event (sample: aide-soignant at an EHPAD of Bourg-en-Bresse) with overrides."""
    data = p.Vacancy.model_validate(samples.vacancy(id=vacancy_id, version=version, **fields))
    return kind.build(data, source="urn:test:partner", id=event_id or f"{vacancy_id}-v{version}", time=at)


def slot_payload(slot_id: str, **fields: Any) -> p.ImmersionSlot:
    """An immersion slot of 5 places at the EHPAD of Bourg-en-Bresse, from 1 to 12 December 2026."""
    data: dict[str, Any] = {
        "id": slot_id,
        "establishment": samples.vacancy()["establishment"],
        "rome_code": "J1501",
        "title": "Vis ma vie d'aide-soignant",
        "commune_insee": samples.BOURG_EN_BRESSE,
        "start_date": "2026-12-01",
        "end_date": "2026-12-12",
        "capacity": 5,
        "places_left": 5,
        "version": 1,
    }
    data.update(fields)
    return p.ImmersionSlot.model_validate(data)


def slot_event(slot_id: str, **fields: Any) -> AnyEvent:
    """An immersion-slot-offered event."""
    slot = slot_payload(slot_id, **fields)
    return ev.ImmersionSlotOffered.build(
        slot, source="urn:test:partner", id=f"{slot_id}-v{slot.version}", time=NOW
    )


def request_event(
    slot_id: str,
    request_id: str,
    candidate_id: str,
    start: str = "2026-12-02",
    end: str = "2026-12-04",
    at: datetime = NOW,
) -> ev.ImmersionRequested:
    """An immersion request of a candidate for some dates of a slot."""
    data = p.ImmersionRequest(
        request_id=request_id,
        slot_id=slot_id,
        candidate_id=candidate_id,
        start_date=date.fromisoformat(start),
        end_date=date.fromisoformat(end),
    )
    return ev.ImmersionRequested.build(data, source="urn:test:partner", id=f"evt-{request_id}", time=at)


def training_event(session_id: str, **fields: Any) -> AnyEvent:
    """A training session for the DEAS at Mont-de-Marsan, in 2027."""
    data: dict[str, Any] = {
        "id": session_id,
        "provider_siret": samples.SIRET_SAAD_MONT_DE_MARSAN,
        "provider_name": "IFAS des Landes",
        "title": "Formation d'aide-soignant",
        "rome_code": "J1501",
        "diploma": "DEAS",
        "commune_insee": samples.MONT_DE_MARSAN,
        "start_date": "2027-01-04",
        "end_date": "2027-12-17",
        "application_deadline": "2026-12-15",
        "places": 30,
        "places_left": 12,
        "apprenticeship_possible": True,
        "version": 1,
    }
    data.update(fields)
    session = p.TrainingSession.model_validate(data)
    return ev.TrainingSessionPublished.build(
        session, source="urn:test:partner", id=f"{session_id}-v{session.version}", time=NOW
    )


class MovingClock:
    """A clock the test moves: it says `now` until the test sets another."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def fixed_clock(moment: datetime = NOW) -> Callable[[], datetime]:
    """A clock that always says `moment` (a little later each call would break nothing either)."""
    return lambda: moment


def days(n: int) -> timedelta:
    """`n` days."""
    return timedelta(days=n)


def candidate_event(candidate_id: str, *, version: int = 1, **fields: Any) -> AnyEvent:
    """A job seeker of Ambérieu-en-Bugey holding the DEAS, registered."""
    data = p.CandidateRegistration.model_validate(
        samples.candidate(id=candidate_id, version=version, **fields)
    )
    return ev.CandidateRegistered.build(
        data, source="urn:test:partner", id=f"{candidate_id}-v{version}", time=NOW
    )


def match_event(candidate_id: str, offer_id: str, *, match_id: str | None = None, **fields: Any) -> AnyEvent:
    """The matching service's match of a candidate with a vacancy (12.4 km, two reasons)."""
    match_id = match_id or f"m-{candidate_id}-{offer_id}"
    data = p.MatchFound.model_validate(
        samples.match_found(match_id=match_id, candidate_id=candidate_id, offer_id=offer_id, **fields)
    )
    return ev.MatchFound.build(data, source="urn:vocation:matching", id=f"{match_id}.found", time=NOW)


def match_withdrawn_event(candidate_id: str, offer_id: str, *, match_id: str | None = None) -> AnyEvent:
    """The matching service withdraws a match (the offer changed)."""
    match_id = match_id or f"m-{candidate_id}-{offer_id}"
    data = p.MatchWithdrawn(
        match_id=match_id,
        candidate_id=candidate_id,
        offer_id=offer_id,
        offer_kind=OfferKind.VACANCY,
        reason=MatchWithdrawalReason.OFFER_CHANGED,
    )
    return ev.MatchWithdrawn.build(data, source="urn:vocation:matching", id=f"{match_id}.withdrawn", time=NOW)


def answered_event(
    candidate_id: str,
    offer_id: str,
    answer: ApplicationAnswer,
    *,
    reason: ApplicationDeclineReason | None = None,
    source: str = "urn:test:partner",
    at: datetime = NOW,
) -> AnyEvent:
    """A partner's recruiter screen answers an application (`application.answered`)."""
    data = p.ApplicationAnswered(
        application_id=p.application_id_of(candidate_id, offer_id),
        candidate_id=candidate_id,
        offer_id=offer_id,
        answer=answer,
        reason=reason,
        answered_at=at,
    )
    return ev.ApplicationAnswered.build(data, source=source, id=f"{data.application_id}.{answer}", time=at)
