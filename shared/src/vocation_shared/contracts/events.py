"""One CloudEvent model per event type, and the registry that maps a `type` to its model and topic."""

from __future__ import annotations

from typing import Any, Literal

from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.envelope import CloudEvent
from vocation_shared.contracts.topics import Topic

# --- vacancies ---


class VacancyPosted(CloudEvent[p.Vacancy]):
    """A new vacancy was published."""

    TOPIC = Topic.VACANCIES
    type: Literal["fr.vocation.vacancy.posted.v1"] = "fr.vocation.vacancy.posted.v1"


class VacancyUpdated(CloudEvent[p.Vacancy]):
    """A vacancy changed; the event carries its new full state."""

    TOPIC = Topic.VACANCIES
    type: Literal["fr.vocation.vacancy.updated.v1"] = "fr.vocation.vacancy.updated.v1"


class VacancyClosed(CloudEvent[p.Vacancy]):
    """A vacancy was closed or filled; the event carries its final state."""

    TOPIC = Topic.VACANCIES
    type: Literal["fr.vocation.vacancy.closed.v1"] = "fr.vocation.vacancy.closed.v1"


class ShiftAccepted(CloudEvent[p.ShiftAccepted]):
    """Someone of the replacement pool accepted an urgent shift."""

    TOPIC = Topic.VACANCIES
    type: Literal["fr.vocation.shift.accepted.v1"] = "fr.vocation.shift.accepted.v1"


# --- candidates ---


class CandidateRegistered(CloudEvent[p.CandidateRegistration]):
    """A candidate registered (the contact, if any, is split off by the gateway)."""

    TOPIC = Topic.CANDIDATES
    type: Literal["fr.vocation.candidate.registered.v1"] = "fr.vocation.candidate.registered.v1"


class ApprenticeRegistered(CloudEvent[p.CandidateRegistration]):
    """A young person seeking an apprenticeship contract registered."""

    TOPIC = Topic.CANDIDATES
    type: Literal["fr.vocation.apprentice.registered.v1"] = "fr.vocation.apprentice.registered.v1"


class CandidateUpdated(CloudEvent[p.CandidateProfile]):
    """A candidate's profile changed; the event carries the new full profile."""

    TOPIC = Topic.CANDIDATES
    type: Literal["fr.vocation.candidate.updated.v1"] = "fr.vocation.candidate.updated.v1"


class CandidateWithdrawn(CloudEvent[p.CandidateWithdrawn]):
    """A candidate left; with erasure asked, tombstones follow on the compacted topics."""

    TOPIC = Topic.CANDIDATES
    type: Literal["fr.vocation.candidate.withdrawn.v1"] = "fr.vocation.candidate.withdrawn.v1"


# --- candidate contacts (personal data) ---


class ContactRegistered(CloudEvent[p.CandidateContact]):
    """A candidate's contact details and consent, in full."""

    TOPIC = Topic.CANDIDATE_CONTACTS
    type: Literal["fr.vocation.contact.registered.v1"] = "fr.vocation.contact.registered.v1"


class ConsentUpdated(CloudEvent[p.ConsentUpdated]):
    """A candidate's consent changed (STOP, unsubscribe link, partner)."""

    TOPIC = Topic.CANDIDATE_CONTACTS
    type: Literal["fr.vocation.consent.updated.v1"] = "fr.vocation.consent.updated.v1"


# --- establishments ---


class EstablishmentRegistered(CloudEvent[p.Establishment]):
    """A new employer site."""

    TOPIC = Topic.ESTABLISHMENTS
    type: Literal["fr.vocation.establishment.registered.v1"] = "fr.vocation.establishment.registered.v1"


class EstablishmentUpdated(CloudEvent[p.Establishment]):
    """An employer site changed."""

    TOPIC = Topic.ESTABLISHMENTS
    type: Literal["fr.vocation.establishment.updated.v1"] = "fr.vocation.establishment.updated.v1"


# --- trainings ---


class TrainingSessionPublished(CloudEvent[p.TrainingSession]):
    """A training session opened for applications."""

    TOPIC = Topic.TRAININGS
    type: Literal["fr.vocation.training-session.published.v1"] = "fr.vocation.training-session.published.v1"


class TrainingSessionUpdated(CloudEvent[p.TrainingSession]):
    """A training session changed (places left, dates, status)."""

    TOPIC = Topic.TRAININGS
    type: Literal["fr.vocation.training-session.updated.v1"] = "fr.vocation.training-session.updated.v1"


# --- immersion slots ---


class ImmersionSlotOffered(CloudEvent[p.ImmersionSlot]):
    """An establishment offers immersion places."""

    TOPIC = Topic.IMMERSION_SLOTS
    type: Literal["fr.vocation.immersion-slot.offered.v1"] = "fr.vocation.immersion-slot.offered.v1"


class ImmersionSlotUpdated(CloudEvent[p.ImmersionSlot]):
    """A slot changed, e.g. its places left after a booking."""

    TOPIC = Topic.IMMERSION_SLOTS
    type: Literal["fr.vocation.immersion-slot.updated.v1"] = "fr.vocation.immersion-slot.updated.v1"


class ImmersionSlotClosed(CloudEvent[p.ImmersionSlot]):
    """A slot no longer takes requests."""

    TOPIC = Topic.IMMERSION_SLOTS
    type: Literal["fr.vocation.immersion-slot.closed.v1"] = "fr.vocation.immersion-slot.closed.v1"


# --- immersion bookings ---


class ImmersionRequested(CloudEvent[p.ImmersionRequest]):
    """A candidate asked for an immersion place."""

    TOPIC = Topic.IMMERSION_BOOKINGS
    type: Literal["fr.vocation.immersion.requested.v1"] = "fr.vocation.immersion.requested.v1"


class ImmersionBooked(CloudEvent[p.ImmersionBooked]):
    """An immersion place was booked."""

    TOPIC = Topic.IMMERSION_BOOKINGS
    type: Literal["fr.vocation.immersion.booked.v1"] = "fr.vocation.immersion.booked.v1"


class ImmersionRefused(CloudEvent[p.ImmersionRefused]):
    """An immersion request was refused."""

    TOPIC = Topic.IMMERSION_BOOKINGS
    type: Literal["fr.vocation.immersion.refused.v1"] = "fr.vocation.immersion.refused.v1"


class ImmersionCancelled(CloudEvent[p.ImmersionCancelled]):
    """A booked immersion place was given back."""

    TOPIC = Topic.IMMERSION_BOOKINGS
    type: Literal["fr.vocation.immersion.cancelled.v1"] = "fr.vocation.immersion.cancelled.v1"


# --- matches ---


class MatchFound(CloudEvent[p.MatchFound]):
    """A candidate × offer match worth telling."""

    TOPIC = Topic.MATCHES
    type: Literal["fr.vocation.match.found.v1"] = "fr.vocation.match.found.v1"


class MatchWithdrawn(CloudEvent[p.MatchWithdrawn]):
    """A match that no longer stands."""

    TOPIC = Topic.MATCHES
    type: Literal["fr.vocation.match.withdrawn.v1"] = "fr.vocation.match.withdrawn.v1"


# --- applications ---


class ApplicationSubmitted(CloudEvent[p.ApplicationSubmitted]):
    """A candidate applied to an offer (« Je suis intéressé(e) », confirmed)."""

    TOPIC = Topic.APPLICATIONS
    type: Literal["fr.vocation.application.submitted.v1"] = "fr.vocation.application.submitted.v1"


class ApplicationAnswered(CloudEvent[p.ApplicationAnswered]):
    """The employer answered an application."""

    TOPIC = Topic.APPLICATIONS
    type: Literal["fr.vocation.application.answered.v1"] = "fr.vocation.application.answered.v1"


class ApplicationWithdrawn(CloudEvent[p.ApplicationWithdrawn]):
    """An application ended without an answer."""

    TOPIC = Topic.APPLICATIONS
    type: Literal["fr.vocation.application.withdrawn.v1"] = "fr.vocation.application.withdrawn.v1"


class MatchDeclined(CloudEvent[p.MatchDeclined]):
    """A candidate said « Pas pour moi » to a match."""

    TOPIC = Topic.APPLICATIONS
    type: Literal["fr.vocation.match.declined.v1"] = "fr.vocation.match.declined.v1"


# --- notifications ---


class NotificationSent(CloudEvent[p.NotificationSent]):
    """A notification was accepted by the email or SMS provider."""

    TOPIC = Topic.NOTIFICATIONS
    type: Literal["fr.vocation.notification.sent.v1"] = "fr.vocation.notification.sent.v1"


class NotificationFailed(CloudEvent[p.NotificationFailed]):
    """A notification could not be delivered."""

    TOPIC = Topic.NOTIFICATIONS
    type: Literal["fr.vocation.notification.failed.v1"] = "fr.vocation.notification.failed.v1"


class NotificationSuppressed(CloudEvent[p.NotificationSuppressed]):
    """A notification was deliberately not sent."""

    TOPIC = Topic.NOTIFICATIONS
    type: Literal["fr.vocation.notification.suppressed.v1"] = "fr.vocation.notification.suppressed.v1"


AnyEvent = CloudEvent[Any]

EVENT_MODELS: tuple[type[AnyEvent], ...] = (
    VacancyPosted,
    VacancyUpdated,
    VacancyClosed,
    ShiftAccepted,
    CandidateRegistered,
    ApprenticeRegistered,
    CandidateUpdated,
    CandidateWithdrawn,
    ContactRegistered,
    ConsentUpdated,
    EstablishmentRegistered,
    EstablishmentUpdated,
    TrainingSessionPublished,
    TrainingSessionUpdated,
    ImmersionSlotOffered,
    ImmersionSlotUpdated,
    ImmersionSlotClosed,
    ImmersionRequested,
    ImmersionBooked,
    ImmersionRefused,
    ImmersionCancelled,
    MatchFound,
    MatchWithdrawn,
    ApplicationSubmitted,
    ApplicationAnswered,
    ApplicationWithdrawn,
    MatchDeclined,
    NotificationSent,
    NotificationFailed,
    NotificationSuppressed,
)

EVENT_TYPES: dict[str, type[AnyEvent]] = {model.TYPE: model for model in EVENT_MODELS}


def types_on(topic: Topic | str) -> frozenset[str]:
    """The event types that travel on a topic."""
    return frozenset(m.TYPE for m in EVENT_MODELS if topic == m.TOPIC)
