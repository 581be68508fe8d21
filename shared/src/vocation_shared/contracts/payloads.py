"""Event payloads: the full state of each entity (event-carried state transfer) and the facts about them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, ClassVar, Self

from pydantic import AwareDatetime, EmailStr, Field, StringConstraints, model_validator

from vocation_shared.contracts.envelope import EventData
from vocation_shared.contracts.fields import (
    EntityId,
    FirstName,
    FrenchText,
    HttpsUrl,
    InseeCode,
    Latitude,
    Longitude,
    PersonName,
    PhoneE164,
    RomeCode,
    ShortText,
    Siret,
)
from vocation_shared.contracts.vocabulary import (
    ApplicationAnswer,
    ApplicationDeclineReason,
    ApplicationWithdrawalReason,
    CandidateKind,
    Channel,
    ConsentOrigin,
    ContractType,
    DigestMode,
    EstablishmentKind,
    ImmersionRefusalReason,
    LifeExperience,
    MatchDeclineReason,
    MatchWithdrawalReason,
    NotificationPurpose,
    OfferKind,
    OfferStatus,
    SuppressionReason,
    WorkingTime,
)
from vocation_shared.reference import Diploma

DiplomaCode = Annotated[
    Diploma,
    Field(
        description="A diploma of the sector, e.g. DEAS (Diplôme d'État d'aide-soignant)",
        examples=["DEAS"],
    ),
]
Version = Annotated[int, Field(ge=1, description="Increases by one at every change of the entity.")]


def _dates_in_order(start: date | None, end: date | None, what: str) -> None:
    if start is not None and end is not None and end < start:
        raise ValueError(f"{what}: end date {end} is before start date {start}")


class Position(EventData):
    """An exact position (WGS84), when known better than the commune's town hall."""

    lat: Latitude
    lon: Longitude


class RecruitingContact(EventData):
    """Who receives the applications: a professional contact (personal data: never served nor webhooked)."""

    name: PersonName
    email: EmailStr
    phone: PhoneE164 | None = None


# --- establishments ---------------------------------------------------------------------------


class Establishment(EventData):
    """An employer site (ESMS, hospital, EHPAD, IME, SAAD, crèche…)."""

    id: EntityId
    siret: Siret
    name: ShortText
    kind: EstablishmentKind
    commune_insee: InseeCode
    address: ShortText | None = None
    position: Position | None = None
    employer_name: ShortText | None = Field(
        default=None, description="The association or group running the site."
    )
    immersion_contact_email: EmailStr | None = Field(
        default=None, description="Professional address of the tutor told about immersion bookings."
    )
    recruiting_contact: RecruitingContact | None = Field(
        default=None, description="Who receives the applications to this site's vacancies."
    )
    version: Version = 1


# --- offers -----------------------------------------------------------------------------------


class EstablishmentRef(EventData):
    """The essentials of the establishment an offer belongs to."""

    id: EntityId
    siret: Siret
    name: ShortText
    kind: EstablishmentKind


class Schedule(EventData):
    """When the work happens."""

    night: bool = False
    weekend: bool = False
    hours_per_week: float | None = Field(default=None, gt=0, le=48)


class Vacancy(EventData):
    """An offer of work at an establishment for a métier, in its full current state."""

    id: EntityId
    establishment: EstablishmentRef
    rome_code: RomeCode
    appellation_code: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,8}$")] | None = None
    title: ShortText
    description: FrenchText | None = None
    contract_type: ContractType
    working_time: WorkingTime
    schedule: Schedule = Schedule()
    start_date: date
    end_date: date | None = None
    urgent: bool = Field(default=False, description="An urgent replacement shift offered to the pool.")
    required_diploma: DiplomaCode | None = None
    driving_licence_required: bool = False
    housing_offered: bool = False
    posts: int = Field(default=1, ge=1, le=500)
    posts_filled: int = Field(default=0, ge=0)
    commune_insee: InseeCode
    position: Position | None = None
    salary_monthly_gross_eur: float | None = Field(default=None, gt=0, le=20000)
    recruiting_contact: RecruitingContact | None = Field(
        default=None, description="Who receives the applications, instead of the establishment's contact."
    )
    application_url: HttpsUrl | None = Field(
        default=None, description="The owning partner's own page for the offer: « Voir l'offre » goes there."
    )
    status: OfferStatus = OfferStatus.OPEN
    version: Version = 1

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _dates_in_order(self.start_date, self.end_date, "vacancy")
        if self.posts_filled > self.posts:
            raise ValueError("posts_filled cannot exceed posts")
        if self.contract_type is ContractType.CDI and self.end_date is not None:
            raise ValueError("a CDI has no end date")
        return self


class ImmersionSlot(EventData):
    """A discovery placement (PMSMP, « Vis ma vie ») offered by an establishment."""

    id: EntityId
    establishment: EstablishmentRef
    rome_code: RomeCode
    title: ShortText
    description: FrenchText | None = None
    commune_insee: InseeCode
    position: Position | None = None
    start_date: date
    end_date: date
    capacity: int = Field(ge=1, le=100)
    places_left: int = Field(ge=0)
    tutor_name: ShortText | None = None
    status: OfferStatus = OfferStatus.OPEN
    version: Version = 1

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _dates_in_order(self.start_date, self.end_date, "immersion slot")
        if self.places_left > self.capacity:
            raise ValueError("places_left cannot exceed capacity")
        return self


class TrainingSession(EventData):
    """A training programme leading to a diploma, with places and dates."""

    id: EntityId
    provider_siret: Siret
    provider_name: ShortText
    title: ShortText
    rome_code: RomeCode
    diploma: DiplomaCode
    commune_insee: InseeCode
    position: Position | None = None
    start_date: date
    end_date: date
    application_deadline: date | None = None
    places: int = Field(ge=1, le=1000)
    places_left: int = Field(ge=0)
    apprenticeship_possible: bool = False
    status: OfferStatus = OfferStatus.OPEN
    version: Version = 1

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _dates_in_order(self.start_date, self.end_date, "training session")
        if self.application_deadline is not None and self.application_deadline > self.start_date:
            raise ValueError("the application deadline must not be after the start date")
        if self.places_left > self.places:
            raise ValueError("places_left cannot exceed places")
        return self


class ShiftAccepted(EventData):
    """A member of the replacement pool accepted an urgent shift; the first acceptance wins."""

    SUBJECT_FIELD: ClassVar[str] = "vacancy_id"

    vacancy_id: EntityId
    candidate_id: EntityId
    accepted_at: AwareDatetime


# --- candidates -------------------------------------------------------------------------------


class Experience(EventData):
    """Months of experience in one métier."""

    rome_code: RomeCode
    months: int = Field(ge=0, le=600)


class ApprenticeshipPlan(EventData):
    """An apprentice's school side: where they train and what they prepare."""

    school_name: ShortText
    school_commune_insee: InseeCode
    school_position: Position | None = None
    diploma_prepared: DiplomaCode
    programme_start: date
    programme_end: date | None = None
    max_distance_from_school_km: float = Field(default=30, ge=0, le=200)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _dates_in_order(self.programme_start, self.programme_end, "apprenticeship programme")
        return self


class CandidateProfile(EventData):
    """A candidate's profile, in full. It never holds contact data (see `CandidateContact`)."""

    id: EntityId
    kind: CandidateKind
    wanted_rome_codes: list[RomeCode] = Field(min_length=1, max_length=10)
    accepts_close_metiers: bool = False
    diplomas: list[DiplomaCode] = Field(default_factory=list, max_length=20)
    experience: list[Experience] = Field(default_factory=list, max_length=30)
    life_experience: list[LifeExperience] = Field(default_factory=list)
    wants_immersion: bool = Field(default=False, description="Asked for discovery placements.")
    home_commune_insee: InseeCode
    home_position: Position | None = None
    mobility_radius_km: float = Field(ge=0, le=200)
    driving_licence: bool = False
    has_vehicle: bool = False
    available_from: date
    contract_types: list[ContractType] = Field(min_length=1)
    working_times: list[WorkingTime] = Field(min_length=1)
    accepts_night: bool = False
    accepts_weekend: bool = False
    needs_housing: bool = False
    birth_year: int | None = Field(default=None, ge=1930, le=2020)
    recognised_disability: bool = Field(
        default=False, description="RQTH: lifts the apprenticeship age limit."
    )
    apprenticeship: ApprenticeshipPlan | None = None
    version: Version = 1

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kind is CandidateKind.APPRENTICE:
            if self.apprenticeship is None:
                raise ValueError("an apprentice's profile needs its apprenticeship plan (school, diploma)")
            if self.birth_year is None:
                raise ValueError("an apprentice's profile needs the birth year (age rules)")
        if len(set(self.wanted_rome_codes)) != len(self.wanted_rome_codes):
            raise ValueError("wanted_rome_codes has duplicates")
        return self


class ContactDetails(EventData):
    """How to reach a candidate: personal data, only on `candidate-contacts`."""

    first_name: FirstName | None = Field(default=None, description="Messages greet the candidate by it.")
    email: EmailStr | None = None
    phone: PhoneE164 | None = None
    channels: list[Channel] = Field(default_factory=list, description="Channels the candidate consented to.")
    digest: DigestMode = DigestMode.INSTANT
    urgent_shift_sms: bool = Field(
        default=False, description="Consent to urgent shift SMS outside the usual window."
    )
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")] = "fr"

    @model_validator(mode="after")
    def _consented_channels_reachable(self) -> Self:
        if Channel.EMAIL in self.channels and self.email is None:
            raise ValueError("email consented but no email address given")
        if Channel.SMS in self.channels and self.phone is None:
            raise ValueError("SMS consented but no phone number given")
        return self


class CandidateRegistration(CandidateProfile):
    """What a partner sends to register a candidate: the profile and, optionally, the contact.

    The gateway splits it: the profile goes to `candidates`, the contact to `candidate-contacts`.
    """

    contact: ContactDetails | None = None

    def profile(self) -> CandidateProfile:
        """The profile alone, without contact data."""
        return CandidateProfile.model_validate(self.model_dump(exclude={"contact"}))


class CandidateWithdrawn(EventData):
    """A candidate left the platform; with `erasure_requested`, every personal datum must go."""

    SUBJECT_FIELD: ClassVar[str] = "candidate_id"

    candidate_id: EntityId
    erasure_requested: bool = False
    reason: ShortText | None = None


class CandidateContact(ContactDetails):
    """A candidate's contact details and consent, in full (the `candidate-contacts` entity)."""

    SUBJECT_FIELD: ClassVar[str] = "candidate_id"

    candidate_id: EntityId
    version: Version = 1


class ConsentChange(EventData):
    """What changed in a consent."""

    channel: Channel
    consented: bool
    origin: ConsentOrigin
    at: AwareDatetime


class ConsentUpdated(CandidateContact):
    """The contact's new full state after a change of consent, and the change itself."""

    change: ConsentChange


# --- immersion bookings (key = slot id) -------------------------------------------------------


class ImmersionRequest(EventData):
    """A candidate asks for a place on an immersion slot for some dates."""

    SUBJECT_FIELD: ClassVar[str] = "slot_id"

    request_id: EntityId
    slot_id: EntityId
    candidate_id: EntityId
    start_date: date
    end_date: date
    motivation: FrenchText | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _dates_in_order(self.start_date, self.end_date, "immersion request")
        return self


class ImmersionBooked(ImmersionRequest):
    """The place is booked."""

    establishment_id: EntityId
    places_left: int = Field(ge=0)


class ImmersionRefused(ImmersionRequest):
    """The request was refused, with the reason in words a candidate understands."""

    reason: ImmersionRefusalReason
    message: ShortText


class ImmersionCancelled(EventData):
    """A booked place is given back."""

    SUBJECT_FIELD: ClassVar[str] = "slot_id"

    request_id: EntityId
    slot_id: EntityId
    candidate_id: EntityId
    cancelled_by: Annotated[str, StringConstraints(pattern=r"^(candidate|host|operator)$")]
    reason: ShortText | None = None


# --- matches (key = candidate id) -------------------------------------------------------------


class MatchFound(EventData):
    """A candidate × offer pair worth telling someone about, with its score and reasons."""

    SUBJECT_FIELD: ClassVar[str] = "candidate_id"

    match_id: EntityId
    candidate_id: EntityId
    offer_id: EntityId
    offer_kind: OfferKind
    offer_version: Version
    offer_title: ShortText
    rome_code: RomeCode
    commune_insee: InseeCode
    establishment_name: ShortText | None = None
    distance_km: float = Field(ge=0)
    score: int = Field(ge=0, le=100)
    reasons: list[ShortText] = Field(min_length=1, max_length=5, description="Short French sentences.")
    close_metier: bool = False
    urgent: bool = Field(
        default=False,
        description="The offer is an urgent replacement shift: told at once, never held for a digest.",
    )


class MatchWithdrawn(EventData):
    """A match that no longer stands."""

    SUBJECT_FIELD: ClassVar[str] = "candidate_id"

    match_id: EntityId
    candidate_id: EntityId
    offer_id: EntityId
    offer_kind: OfferKind
    reason: MatchWithdrawalReason


# --- applications (key = candidate id / application id) ---------------------------------------

APPLICATION_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:vocation:application")
APPLICATION_OFFER_KINDS = frozenset({OfferKind.VACANCY, OfferKind.APPRENTICESHIP})
"""What one applies to through the platform (immersion places are requested, trainings elsewhere)."""
ApplicationMessage = Annotated[
    str,
    StringConstraints(min_length=1, max_length=1000),
    Field(description="The candidate's words to the employer (at most 1,000 characters)."),
]


def application_id_of(candidate_id: str, offer_id: str) -> str:
    """The one application id of a candidate and an offer (a UUID v5): two submits are one application."""
    return str(uuid.uuid5(APPLICATION_NAMESPACE, f"{candidate_id}\x00{offer_id}"))


class CandidateOfferPair(EventData):
    """A fact about one candidate and one offer; `application_id` is the pair's, never invented."""

    SUBJECT_FIELD: ClassVar[str] = "candidate_id"

    application_id: EntityId = Field(description="`application_id_of(candidate_id, offer_id)`.")
    candidate_id: EntityId
    offer_id: EntityId

    @model_validator(mode="after")
    def _id_of_the_pair(self) -> Self:
        expected = application_id_of(self.candidate_id, self.offer_id)
        if self.application_id != expected:
            raise ValueError(f"application_id must be the pair's id {expected} (see application_id_of)")
        return self


class SharedContact(EventData):
    """What the candidate chose to give the employer: flags only, the contact stays with notifications."""

    email: bool = False
    phone: bool = False


class CandidateSummary(EventData):
    """What the employer reads to judge an application: no name, no contact."""

    diplomas: list[DiplomaCode] = Field(default_factory=list, max_length=20)
    experience: list[Experience] = Field(default_factory=list, max_length=30)
    available_from: date | None = None
    distance_km: float | None = Field(default=None, ge=0)
    reasons: list[ShortText] = Field(
        default_factory=list, max_length=5, description="The match's reasons (short French sentences)."
    )


class ApplicationSubmitted(CandidateOfferPair):
    """A candidate confirmed « Je suis intéressé(e) »: the application goes to the recruiting contact."""

    offer_kind: OfferKind
    match_id: EntityId | None = Field(default=None, description="The match it answers, if any.")
    message: ApplicationMessage | None = None
    shares: SharedContact = SharedContact()
    summary: CandidateSummary = CandidateSummary()
    submitted_at: AwareDatetime

    @model_validator(mode="after")
    def _applicable(self) -> Self:
        if self.offer_kind not in APPLICATION_OFFER_KINDS:
            raise ValueError(
                f"one applies to a vacancy or an apprenticeship, not to a {self.offer_kind} offer"
            )
        return self


class ApplicationAnswered(CandidateOfferPair):
    """The employer answered: an exchange proposed, declined (with a reason), or hired."""

    answer: ApplicationAnswer
    reason: ApplicationDeclineReason | None = Field(default=None, description="Given with `declined` only.")
    answered_at: AwareDatetime

    @model_validator(mode="after")
    def _reason_with_a_decline(self) -> Self:
        declined = self.answer is ApplicationAnswer.DECLINED
        if declined and self.reason is None:
            raise ValueError("a declined application needs its reason")
        if not declined and self.reason is not None:
            raise ValueError(f"only a declined application has a reason, not {self.answer}")
        return self


class ApplicationWithdrawn(CandidateOfferPair):
    """An application ended without an answer: withdrawn by the candidate, unanswered, or the offer gone."""

    reason: ApplicationWithdrawalReason
    withdrawn_at: AwareDatetime


class MatchDeclined(CandidateOfferPair):
    """A candidate said « Pas pour moi »: never that offer again, and the reason teaches matching."""

    offer_kind: OfferKind
    match_id: EntityId | None = None
    reason: MatchDeclineReason | None = Field(default=None, description="None: no reason given.")
    declined_at: AwareDatetime


# --- notifications (key = candidate id, or establishment id for a host) -----------------------


class NotificationOutcome(EventData):
    """Common fields of a delivery outcome; no email or phone ever."""

    SUBJECT_FIELD: ClassVar[str] = "recipient_id"

    notification_id: EntityId
    recipient_id: EntityId
    channel: Channel
    purpose: NotificationPurpose
    about_id: EntityId = Field(description="The offer, booking or digest the notification is about.")


class NotificationSent(NotificationOutcome):
    """The provider accepted the message."""

    sent_at: AwareDatetime
    provider_message_id: ShortText | None = None
    attempts: int = Field(default=1, ge=1)


class NotificationFailed(NotificationOutcome):
    """The message could not be delivered; `permanent` says whether it will be retried."""

    error: ShortText
    permanent: bool
    attempts: int = Field(ge=1)
    next_attempt_at: datetime | None = None


class NotificationSuppressed(NotificationOutcome):
    """The message was deliberately not sent."""

    why: SuppressionReason
