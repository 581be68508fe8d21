"""An offer as the pages show it (from the search port's item), and up to three similar open offers nearby."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from vocation_shared.contracts.payloads import APPLICATION_OFFER_KINDS
from vocation_shared.contracts.vocabulary import OfferKind
from vocation_shared.french import long_date
from vocation_shared.reference import Diploma, communes

from vocation_catalogue.adapters.pages.texts import CONTRACTS, KINDS, WORKING_TIMES
from vocation_catalogue.core.search import Area, Catalogue, SearchQuery, Sort
from vocation_catalogue.ports import OfferSearch

SIMILAR_RADIUS_KM = 30.0
SIMILAR_COUNT = 3
LOOKUP_ORDER = (Catalogue.VACANCIES, Catalogue.IMMERSIONS, Catalogue.TRAININGS)
"""Where `/offres/{id}` looks for an id, in turn (ids are unique in practice across kinds)."""


@dataclass(frozen=True, slots=True)
class Fact:
    """One line of the offer's description: a term and its value."""

    term: str
    value: str


@dataclass(frozen=True, slots=True)
class OfferPage:
    """What a page says of an offer."""

    id: str
    catalogue: Catalogue
    kind: OfferKind
    title: str
    metier: str | None
    employer: str | None
    commune: str | None
    facts: tuple[Fact, ...]
    description: str | None
    open: bool
    application_url: str | None
    rome_code: str | None
    place: tuple[float, float] | None
    distance_km: float | None = None
    """From the place searched around (the similar offers), None otherwise."""

    @property
    def applicable(self) -> bool:
        """Whether one applies to it through the platform (« Je suis intéressé(e) »)."""
        return self.kind in APPLICATION_OFFER_KINDS


def _day(value: Any) -> str | None:
    try:
        return long_date(date.fromisoformat(str(value))) if value else None
    except ValueError:
        return None


def _diploma(code: Any) -> str | None:
    if not code:
        return None
    try:
        return Diploma(code).label
    except ValueError:
        return str(code)


def _place(item: dict[str, Any]) -> tuple[float, float] | None:
    position = item.get("position")
    if isinstance(position, dict) and "lat" in position and "lon" in position:
        return float(position["lat"]), float(position["lon"])
    commune = communes().get(str(item.get("commune_insee", "")))
    return None if commune is None else commune.position


def _kind(catalogue: Catalogue, item: dict[str, Any]) -> OfferKind:
    if catalogue is Catalogue.IMMERSIONS:
        return OfferKind.IMMERSION
    if catalogue is Catalogue.TRAININGS:
        return OfferKind.TRAINING
    return OfferKind.APPRENTICESHIP if item.get("offer_kind") == "apprenticeship" else OfferKind.VACANCY


def _facts(catalogue: Catalogue, item: dict[str, Any]) -> list[Fact]:
    facts: list[Fact] = []

    def add(term: str, value: str | None) -> None:
        if value:
            facts.append(Fact(term, value))

    if catalogue is Catalogue.VACANCIES:
        add("Contrat", CONTRACTS.get(str(item.get("contract_type")), str(item.get("contract_type") or "")))
        schedule = item.get("schedule") or {}
        hours = schedule.get("hours_per_week")
        time = WORKING_TIMES.get(str(item.get("working_time")), "")
        if hours:
            time = f"{time}, {float(hours):g} h par semaine" if time else f"{float(hours):g} h par semaine"
        moments = [
            m
            for m, on in (("de nuit", schedule.get("night")), ("le week-end", schedule.get("weekend")))
            if on
        ]
        if moments:
            time = f"{time} ; travail {' et '.join(moments)}"
        add("Horaires", time)
        add("Diplôme demandé", _diploma(item.get("required_diploma")) or "Aucun diplôme exigé")
        add("Logement", "Logement proposé" if item.get("housing_offered") else "Pas de logement proposé")
        add("Début", _day(item.get("start_date")))
        add("Fin", _day(item.get("end_date")))
        posts = item.get("posts")
        if isinstance(posts, int) and posts > 1:
            add("Postes", str(posts))
        salary = item.get("salary_monthly_gross_eur")
        if salary:
            add("Salaire", f"{float(salary):,.0f} € brut par mois".replace(",", " "))
        if item.get("driving_licence_required"):
            add("Permis", "Permis de conduire demandé")
    elif catalogue is Catalogue.IMMERSIONS:
        add("Type", "Immersion professionnelle (découverte du métier)")
        add("Du", _day(item.get("start_date")))
        add("Au", _day(item.get("end_date")))
        add("Places restantes", str(item.get("places_left", "")))
    else:
        add("Organisme", item.get("provider_name"))
        add("Diplôme préparé", _diploma(item.get("diploma")))
        add("Du", _day(item.get("start_date")))
        add("Au", _day(item.get("end_date")))
        add("Candidatures jusqu'au", _day(item.get("application_deadline")))
    return facts


def _employer(item: dict[str, Any]) -> str | None:
    establishment = item.get("establishment")
    if not isinstance(establishment, dict):
        return None
    name = establishment.get("name")
    kind = establishment.get("kind")
    label = KINDS.get(str(kind), str(kind).upper()) if kind and kind != "autre" else None
    words = [str(name)] if name else []
    if label and (not name or label.lower() not in str(name).lower()):
        words.append(f"({label})")
    employer = establishment.get("employer_name")
    if employer:
        words.append(f"— {employer}")
    return " ".join(words) or None


def offer_page(catalogue: Catalogue, item: dict[str, Any]) -> OfferPage:
    """The page's view of a search item."""
    places_left = item.get("places_left")
    is_open = item.get("status") == "open" and (places_left is None or int(places_left) > 0)
    commune = item.get("commune_name")
    departement = item.get("departement")
    return OfferPage(
        id=str(item["id"]),
        catalogue=catalogue,
        kind=_kind(catalogue, item),
        title=str(item.get("title") or "Offre"),
        metier=item.get("metier_label"),
        employer=_employer(item),
        commune=f"{commune} ({departement})" if commune and departement else commune,
        facts=tuple(_facts(catalogue, item)),
        description=item.get("description"),
        open=is_open,
        application_url=item.get("application_url"),
        rome_code=item.get("rome_code"),
        place=_place(item),
        distance_km=item.get("distance_km"),
    )


async def find_offer(search: OfferSearch, offer_id: str) -> OfferPage | None:
    """The offer of this id, looked for in each catalogue in turn; None when none holds it."""
    for catalogue in LOOKUP_ORDER:
        item = await search.get(catalogue.value, offer_id)
        if item is not None:
            return offer_page(catalogue, item)
    return None


async def similar_offers(search: OfferSearch, offer: OfferPage) -> list[OfferPage]:
    """Up to three open offers of the same kind and métier, nearest first within 30 km (none without a place)."""
    if offer.place is None or offer.rome_code is None:
        return []
    query = SearchQuery(
        catalogue=offer.catalogue,
        rome_codes=(offer.rome_code,),
        area=Area(offer.place[0], offer.place[1], SIMILAR_RADIUS_KM),
        sort=Sort.DISTANCE,
        limit=SIMILAR_COUNT + 1,
    )
    page = await search.search(query)
    found = [offer_page(offer.catalogue, item) for item in page.items if str(item.get("id")) != offer.id]
    return found[:SIMILAR_COUNT]
