"""Closed vocabularies shared by the contracts: contract types, establishment kinds, channels…"""

from __future__ import annotations

from enum import StrEnum


class ContractType(StrEnum):
    """Kinds of employment contract an offer proposes or a candidate accepts."""

    CDI = "cdi"
    CDD = "cdd"
    REMPLACEMENT = "remplacement"
    """A replacement or vacation shift (intérim, vacation, remplacement ponctuel)."""
    APPRENTISSAGE = "apprentissage"
    PROFESSIONNALISATION = "professionnalisation"
    STAGE = "stage"


WORK_STUDY_CONTRACTS = frozenset({ContractType.APPRENTISSAGE, ContractType.PROFESSIONNALISATION})


class WorkingTime(StrEnum):
    """Full or part time."""

    FULL_TIME = "full_time"
    PART_TIME = "part_time"


class EstablishmentKind(StrEnum):
    """Kinds of employer sites of the care and social sector."""

    HOSPITAL = "hopital"
    CLINIC = "clinique"
    EHPAD = "ehpad"
    RESIDENCE_AUTONOMIE = "residence_autonomie"
    SAAD = "saad"
    SSIAD = "ssiad"
    IME = "ime"
    ITEP = "itep"
    ESAT = "esat"
    FAM = "fam"
    MAS = "mas"
    FOYER = "foyer_hebergement"
    MECS = "mecs"
    CHRS = "chrs"
    CRECHE = "creche"
    PMI = "pmi"
    CCAS = "ccas"
    TRAINING_INSTITUTE = "organisme_formation"
    OTHER = "autre"


class CandidateKind(StrEnum):
    """Who the candidate is, which decides the offers that suit them."""

    JOB_SEEKER = "job_seeker"
    RECONVERSION = "reconversion"
    STUDENT = "student"
    APPRENTICE = "apprentice"
    REPLACEMENT_STAFF = "replacement_staff"


class LifeExperience(StrEnum):
    """Experience a candidate declares outside employment that counts towards some métiers."""

    CARING_FOR_RELATIVE = "caring_for_relative"
    """Proche aidant: cared for an elderly, ill or disabled relative."""
    CHILDCARE = "childcare"
    VOLUNTEERING_SOCIAL = "volunteering_social"
    VOLUNTEERING_HEALTH = "volunteering_health"
    FIRST_AID_CERTIFICATE = "first_aid_certificate"


class OfferStatus(StrEnum):
    """Lifecycle of an offer (vacancy, slot, training session)."""

    OPEN = "open"
    FILLED = "filled"
    CLOSED = "closed"


class OfferKind(StrEnum):
    """What a match proposes."""

    VACANCY = "vacancy"
    APPRENTICESHIP = "apprenticeship"
    IMMERSION = "immersion"
    TRAINING = "training"


class Channel(StrEnum):
    """How a candidate can be told something."""

    EMAIL = "email"
    SMS = "sms"


class DigestMode(StrEnum):
    """Whether matches are sent one by one or gathered once a day."""

    INSTANT = "instant"
    DAILY = "daily"


class NotificationPurpose(StrEnum):
    """Why a notification is sent."""

    MATCH = "match"
    DIGEST = "digest"
    IMMERSION_BOOKED = "immersion_booked"
    IMMERSION_BOOKED_HOST = "immersion_booked_host"
    IMMERSION_REFUSED = "immersion_refused"
    IMMERSION_REMINDER = "immersion_reminder"
    URGENT_SHIFT = "urgent_shift"
    APPLICATION_RECEIVED = "application_received"
    """The recruiting contact receives an application."""
    APPLICATION_REMINDER = "application_reminder"
    """The one reminder to the recruiting contact, 5 working days after an unanswered application."""
    APPLICATION_ANSWERED = "application_answered"
    """The candidate is told the employer's answer."""
    APPLICATION_CLOSED = "application_closed"
    """The candidate is told an application ended unanswered or with its offer."""
    LINK_RENEWED = "link_renewed"
    """A fresh link in place of an expired one, asked from the expired link's page."""


class SuppressionReason(StrEnum):
    """Why a notification was deliberately not sent."""

    NO_CONSENT = "no_consent"
    ERASED = "erased"
    CAPPED = "capped"
    WITHDRAWN = "withdrawn"
    NO_CONTACT = "no_contact"


class ImmersionRefusalReason(StrEnum):
    """Why an immersion request was refused."""

    SLOT_FULL = "slot_full"
    SLOT_CLOSED = "slot_closed"
    SLOT_PAST = "slot_past"
    SLOT_UNKNOWN = "slot_unknown"
    DATES_OUTSIDE_SLOT = "dates_outside_slot"
    OVERLAPPING_BOOKING = "overlapping_booking"
    REFUSED_BY_HOST = "refused_by_host"


class MatchWithdrawalReason(StrEnum):
    """Why a match no longer stands."""

    OFFER_CLOSED = "offer_closed"
    OFFER_FILLED = "offer_filled"
    OFFER_CHANGED = "offer_changed"
    CANDIDATE_WITHDRAWN = "candidate_withdrawn"
    CANDIDATE_CHANGED = "candidate_changed"


class ConsentOrigin(StrEnum):
    """Where a change of consent came from."""

    PARTNER = "partner"
    SMS_STOP = "sms_stop"
    EMAIL_UNSUBSCRIBE = "email_unsubscribe"
    CANDIDATE = "candidate"


class ApplicationAnswer(StrEnum):
    """What the employer (or the owning partner's recruiter) answers to an application."""

    INTERVIEW_PROPOSED = "interview_proposed"
    """« Proposer un échange »: the candidate receives the recruiting contact."""
    DECLINED = "declined"
    """« Ne pas donner suite », with a reason from `ApplicationDeclineReason`."""
    HIRED = "hired"
    """« Embauché(e) »: one post of the vacancy is filled."""


class ApplicationDeclineReason(StrEnum):
    """Why an employer does not follow up an application (a closed list: no free text to the candidate)."""

    PROFILE_MISMATCH = "profile_mismatch"
    """Le profil ne correspond pas au poste."""
    MISSING_DIPLOMA = "missing_diploma"
    """Le diplôme requis manque."""
    POSITION_FILLED = "position_filled"
    """Le poste est déjà pourvu."""
    AVAILABILITY = "availability"
    """Les disponibilités ne conviennent pas."""
    OTHER = "other"


class ApplicationWithdrawalReason(StrEnum):
    """Why an application ended without an answer."""

    CANDIDATE = "candidate"
    """The candidate withdrew it."""
    UNANSWERED = "unanswered"
    """No answer after the one reminder: closed, the candidate told kindly."""
    OFFER_CLOSED = "offer_closed"
    OFFER_FILLED = "offer_filled"


class MatchDeclineReason(StrEnum):
    """Why a candidate said « Pas pour moi » to a match; it teaches matching."""

    TOO_FAR = "too_far"
    """Trop loin."""
    HOURS = "hours"
    """Horaires."""
    CONTRACT = "contract"
    """Contrat."""
    METIER = "metier"
    """Métier."""
    ALREADY_EMPLOYED = "already_employed"
    """Déjà en poste."""
    OTHER = "other"
    """Autre."""
