"""The catalogue API's answers as pydantic models: what its OpenAPI document promises, and checks."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.fields import ShortText
from vocation_shared.contracts.vocabulary import OfferKind


class Answer(BaseModel):
    """Base of every answer: no field the document does not name."""

    model_config = ConfigDict(extra="forbid")


class Domain(Answer):
    """A grand domaine (K) or domaine (K13) of ROME 4."""

    code: str
    label: str


class MetierSummary(Answer):
    """A métier of ROME 4, as listed."""

    code: str
    label: str
    domaine: Domain
    grand_domaine: Domain
    regulated: bool | None
    priority: bool = Field(description="One of the sector's priority métiers.")
    priority_name: str | None


class MetierList(Answer):
    """Métiers matching the filters (`total` of them, at most `limit` shown)."""

    items: list[MetierSummary]
    total: int


class AppellationAnswer(Answer):
    """A job title of a métier (OGR code)."""

    code: str
    label: str
    short_label: str
    rarely_used: bool


class DiplomaAnswer(Answer):
    """The diploma a métier is reached by."""

    code: str
    label: str
    level: int | None
    required_to_practise: bool


class SkillAnswer(Answer):
    """A skill of a métier; `core`: among its core skills."""

    code: str
    label: str
    core: bool


class Skills(Answer):
    """The skills of a métier, by kind."""

    savoir_faire: list[SkillAnswer]
    savoir_etre: list[SkillAnswer]
    savoirs: list[SkillAnswer]


class CloseMetier(Answer):
    """A métier close to another (mobility)."""

    code: str
    label: str


class WorkContextAnswer(Answer):
    """A condition of the work (hours, place, physical demands…)."""

    label: str
    category: str


class MetierDetail(MetierSummary):
    """One métier: its appellations, diploma, skills, close métiers and work contexts."""

    rome_v3: str
    definition: str
    access: str
    appellations: list[AppellationAnswer]
    diploma: DiplomaAnswer | None
    skills: Skills | None
    close_metiers: list[CloseMetier]
    work_contexts: list[WorkContextAnswer]


class CommuneAnswer(Answer):
    """A commune found by name or postal code."""

    insee: str
    name: str
    departement: str
    region: str
    postal_codes: list[str]
    population: int | None
    latitude: float | None
    longitude: float | None
    type: str


class CommuneList(Answer):
    """Communes matching the start of a name or postal code."""

    items: list[CommuneAnswer]


class _Found(BaseModel):
    """What the catalogue adds to an entity's state in a search result."""

    distance_km: float | None = Field(description="From the place searched around; null without one.")
    commune_name: str | None
    departement: str | None
    metier_label: str | None
    posted_at: str = Field(json_schema_extra={"format": "date-time"}, description="When it was first seen.")


class EstablishmentAnswer(p.EstablishmentRef):
    """The establishment of an offer; one offer read by id also has its public details."""

    commune_insee: str | None = None
    address: ShortText | None = None
    position: p.Position | None = None
    employer_name: ShortText | None = None
    version: int | None = None


class VacancyItem(p.Vacancy, _Found):
    """A vacancy or apprenticeship offer (`offer_kind`), in its full current state."""

    establishment: EstablishmentAnswer
    offer_kind: OfferKind


class ImmersionItem(p.ImmersionSlot, _Found):
    """An immersion slot in its current state (its tutor's name is not published)."""

    tutor_name: Annotated[SkipJsonSchema[None], Field(exclude=True)] = None


class TrainingItem(p.TrainingSession, _Found):
    """A training session in its current state."""


class _Page(Answer):
    count: int = Field(description="Results on this page.")
    next_cursor: str | None = Field(description="Pass it as `cursor` for the next page; null on the last.")


class VacancyPage(_Page):
    """A page of vacancies and apprenticeships."""

    items: list[VacancyItem]


class ImmersionPage(_Page):
    """A page of immersion slots."""

    items: list[ImmersionItem]


class TrainingPage(_Page):
    """A page of training sessions."""

    items: list[TrainingItem]


class Totals(Answer):
    """Sums over the needs shown (hidden candidate counts left out)."""

    open_vacancies: int
    open_posts: int
    urgent_open: int
    posted_in_window: int
    filled_in_window: int
    closed_unfilled_in_window: int
    immersion_places: int
    immersion_places_taken: int
    training_places_left: int
    candidates: int
    applications: int
    applications_answered: int
    interviews: int
    hires: int


class Need(Answer):
    """The needs of one métier in one département."""

    departement: str
    rome_code: str
    metier: str | None
    priority: bool
    open_vacancies: int
    open_posts: int
    urgent_open: int
    posted_in_window: int
    filled_in_window: int
    closed_unfilled_in_window: int
    median_days_open: float | None
    median_days_to_fill: float | None
    immersion_places: int
    immersion_places_taken: int
    training_places_left: int
    candidates: int | None = Field(description="Null when under the threshold that protects people.")
    candidates_per_open_post: float | None
    applications: int | None = Field(description="Null when under the threshold that protects people.")
    applications_answered: int | None
    answer_rate: float | None = Field(description="Answered applications per application.")
    median_days_to_first_answer: float | None
    interviews: int | None
    hires: int | None = Field(description="Hires through the platform.")


class ObservatoryReport(Answer):
    """Recruitment needs per département and métier, most posts to fill first."""

    as_of: str = Field(json_schema_extra={"format": "date-time"})
    departement: str | None
    rome_codes: list[str]
    window_days: int
    totals: Totals
    people_counts_hidden_below: int
    people_counts_hidden: int
    application_counts_hidden: int
    needs: list[Need]
