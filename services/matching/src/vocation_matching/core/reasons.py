"""Why a pair matches, in 2 to 5 short French sentences a candidate understands."""

from __future__ import annotations

from datetime import date

from vocation_shared.contracts.vocabulary import (
    ContractType,
    LifeExperience,
    MatchDeclineReason,
    OfferKind,
    WorkingTime,
)
from vocation_shared.french import long_date
from vocation_shared.reference import PRIORITY_METIERS, rome_v4

from vocation_matching.core.model import Offer
from vocation_matching.core.rules import Facts, is_work_study

MIN_REASONS = 2
MAX_REASONS = 5

CLOSER_AS_ASKED = "Plus proche de chez vous, comme vous l'avez demandé"
"""Said when a « trop loin » narrowed the candidate's radius."""
HOURS_AS_ASKED = "Des horaires qui vous conviennent mieux, comme vous l'avez demandé"
"""Said when a « horaires » stopped night or weekend offers."""

_NAMES = {m.code: m.name for m in PRIORITY_METIERS}
_CONTRACTS = {
    ContractType.CDI: "CDI",
    ContractType.CDD: "CDD",
    ContractType.REMPLACEMENT: "Remplacement",
    ContractType.APPRENTISSAGE: "Contrat d'apprentissage",
    ContractType.PROFESSIONNALISATION: "Contrat de professionnalisation",
    ContractType.STAGE: "Stage",
}
_TIMES = {WorkingTime.FULL_TIME: "à temps plein", WorkingTime.PART_TIME: "à temps partiel"}
_LIFE = {
    LifeExperience.CARING_FOR_RELATIVE: "Votre expérience d'aidant auprès d'un proche compte pour ce métier",
    LifeExperience.CHILDCARE: "Votre expérience de garde d'enfants compte pour ce métier",
    LifeExperience.VOLUNTEERING_SOCIAL: "Votre bénévolat dans le social compte pour ce métier",
    LifeExperience.VOLUNTEERING_HEALTH: "Votre bénévolat dans la santé compte pour ce métier",
    LifeExperience.FIRST_AID_CERTIFICATE: "Votre formation aux premiers secours compte pour ce métier",
}


def metier_name(rome: str) -> str:
    """The usual name of a métier: the sector's name, else the first form of the ROME label."""
    if rome in _NAMES:
        return _NAMES[rome]
    metier = rome_v4().get(rome)
    if metier is None:
        return rome
    return metier.label.split(" / ")[0].lower()


def distance_phrase(km: float, where: str = "de chez vous") -> str:
    """``À 12 km de chez vous``; ``À moins d'1 km de chez vous`` when very near."""
    if km < 1:
        return f"À moins d'1 km {where}"
    return f"À {round(km)} km {where}"


def reasons(offer: Offer, facts: Facts, today: date, life: LifeExperience | None = None) -> tuple[str, ...]:
    """The reasons of a match, most telling first: distance, diploma, métier, then what helps."""
    found = [distance_phrase(facts.distance_km)]
    if MatchDeclineReason.TOO_FAR in facts.learned:
        found.append(CLOSER_AS_ASKED)
    if MatchDeclineReason.HOURS in facts.learned:
        found.append(HOURS_AS_ASKED)
    if facts.school_distance_km is not None:
        found.append(distance_phrase(facts.school_distance_km, "de votre école"))
    if offer.kind is OfferKind.TRAINING and offer.training_diploma is not None:
        found.append(f"Prépare le {offer.training_diploma.label}, requis pour ce métier")
    elif offer.required_diploma is not None:
        if is_work_study(offer):
            found.append(f"{offer.required_diploma.label} préparé en alternance : pas besoin de l'avoir déjà")
        elif facts.holds_required_diploma:
            found.append(f"{offer.required_diploma.label} requis : vous l'avez")
    if facts.close_metier:
        found.append(f"Métier proche de ceux que vous cherchez : {metier_name(offer.rome)}")
    if offer.housing_offered and facts.needs_housing:
        found.append("Logement proposé")
    if facts.months >= 6:
        found.append(f"{_duration(facts.months)} d'expérience dans ce métier")
    if facts.life_counts and life is not None:
        found.append(_LIFE[life])
    if offer.kind is OfferKind.IMMERSION:
        found.append(f"Immersion du {long_date(offer.start_date)} pour découvrir le métier")
    elif offer.contract_type is not None and offer.working_time is not None:
        found.append(f"{_CONTRACTS[offer.contract_type]} {_TIMES[offer.working_time]}")
    if len(found) < MIN_REASONS + 1:
        found.append(f"Début le {long_date(max(offer.start_date, today))}, vous serez disponible")
    if offer.housing_offered and not facts.needs_housing:
        found.append("Logement proposé")
    return tuple(found[:MAX_REASONS])


def _duration(months: int) -> str:
    if months < 12:
        return f"{months} mois"
    years, rest = divmod(months, 12)
    text = "1 an" if years == 1 else f"{years} ans"
    return f"{text} et {rest} mois" if rest else text
