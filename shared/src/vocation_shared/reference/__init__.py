"""Reference data (ROME métiers, communes, diplomas), loaded lazily from files in the package."""

from __future__ import annotations

from vocation_shared.reference._common import UnknownCodeError
from vocation_shared.reference.commune import Commune, Communes, CommuneType, communes
from vocation_shared.reference.diplomas import (
    DIPLOMAS,
    Diploma,
    DiplomaInfo,
    diploma_for_metier,
    holds_diploma,
    metiers_for_diploma,
)
from vocation_shared.reference.geo import EARTH_RADIUS_KM, distance_km, haversine_km
from vocation_shared.reference.rome import (
    Appellation,
    Domain,
    Metier,
    MetierSkills,
    MetierV3,
    RomeV3,
    RomeV4,
    Skill,
    WorkContext,
    rome_v3,
    rome_v4,
    to_rome_v3,
    to_rome_v4,
)
from vocation_shared.reference.sector import (
    HOME_CARE_METIERS,
    PRIORITY_METIER_CODES,
    PRIORITY_METIERS,
    PriorityMetier,
)


def preload(*, skills: bool = False, search: bool = False) -> None:
    """Load the datasets now (e.g. at service startup) rather than on first use.

    ``skills`` also loads the ROME skills; ``search`` also builds the search indexes of
    métiers and communes (for a service that serves autocomplete).
    """
    rome_v4()
    rome_v3()
    communes()
    if skills:
        rome_v4().skills("J1501")
    if search:
        rome_v4().search("a")
        communes().search("a")


__all__ = [
    "DIPLOMAS",
    "EARTH_RADIUS_KM",
    "HOME_CARE_METIERS",
    "PRIORITY_METIERS",
    "PRIORITY_METIER_CODES",
    "Appellation",
    "Commune",
    "CommuneType",
    "Communes",
    "Diploma",
    "DiplomaInfo",
    "Domain",
    "Metier",
    "MetierSkills",
    "MetierV3",
    "PriorityMetier",
    "RomeV3",
    "RomeV4",
    "Skill",
    "UnknownCodeError",
    "WorkContext",
    "communes",
    "diploma_for_metier",
    "distance_km",
    "haversine_km",
    "holds_diploma",
    "metiers_for_diploma",
    "preload",
    "rome_v3",
    "rome_v4",
    "to_rome_v3",
    "to_rome_v4",
]
