"""The 0–100 score: every weight in one place, one formula shared by the index and the reference path.

The formula works on numpy arrays; the scalar path calls it with one-element arrays so that
both paths compute bit-identical floats (numpy's vectorised sin/cos/arcsin may differ from
``math`` by one ulp, and a score or a radius check must never differ between the two).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from vocation_shared.contracts.vocabulary import ContractType, LifeExperience
from vocation_shared.reference import EARTH_RADIUS_KM, HOME_CARE_METIERS, Diploma

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Weights:
    """Points of each criterion; the maximum total is 100.

    - ``distance``: full at 0 km, falling linearly to 0 at the candidate's radius.
    - ``exact_metier`` / ``close_metier``: the offer's métier is wanted, or only close to one.
    - ``experience``: months in the offer's métier, full from ``experience_full_months``.
    - ``life_experience``: a declared life experience that counts towards the métier
      (caring for a relative towards home care, see ``LIFE_EXPERIENCE_METIERS``).
    - ``schedule``: full when the offer needs neither nights nor weekends, minus half for each.
    - ``housing``: full unless the candidate needs housing and the offer has none.
    - ``start``: full when the start is within ``start_full_days`` of the candidate's
      availability, falling to 0 at ``start_zero_days``.
    """

    distance: float = 30.0
    exact_metier: float = 20.0
    close_metier: float = 10.0
    experience: float = 15.0
    experience_full_months: float = 24.0
    life_experience: float = 5.0
    schedule: float = 10.0
    housing: float = 10.0
    start: float = 10.0
    start_full_days: float = 7.0
    start_zero_days: float = 90.0


WEIGHTS = Weights()

MIN_APPRENTICE_AGE = 16
MAX_APPRENTICE_AGE = 29
"""Apprenticeship: 16 to 29 at the contract start (no upper limit with a recognised disability, RQTH)."""

START_TOLERANCE_DAYS: dict[ContractType | None, int] = {
    ContractType.CDI: 30,
    ContractType.CDD: 14,
    ContractType.REMPLACEMENT: 0,
    ContractType.APPRENTISSAGE: 30,
    ContractType.PROFESSIONNALISATION: 30,
    ContractType.STAGE: 14,
    None: 0,
}
"""How long after a vacancy's start a candidate may become available and still match it."""

REGULATED_DIPLOMAS: frozenset[Diploma] = frozenset(
    {
        Diploma.DEAS,
        Diploma.DEI,
        Diploma.DEAP,
        Diploma.DEASS,
        Diploma.DEEJE,
        Diploma.DEES,
        Diploma.DEME,
        Diploma.DEAES,
        Diploma.DETISF,
    }
)
"""The state diplomas of the regulated métiers (DESIGN.md): a training session towards one of
them is proposed to people in reconversion who lack it."""

LIFE_EXPERIENCE_METIERS: dict[LifeExperience, frozenset[str]] = {
    LifeExperience.CARING_FOR_RELATIVE: HOME_CARE_METIERS,
    LifeExperience.CHILDCARE: frozenset({"J1304", "K1202", "K1303"}),
    LifeExperience.VOLUNTEERING_SOCIAL: frozenset({"K1201", "K1207", "K1208", "K1305", "K1306", "K1311"}),
    LifeExperience.VOLUNTEERING_HEALTH: frozenset({"J1301", "J1501", "J1506"}),
    LifeExperience.FIRST_AID_CERTIFICATE: frozenset({"J1301", "J1501", "K1306", "K1311"}),
}
"""Métiers towards which a declared life experience counts."""


def relevant_life_experience(rome: str) -> frozenset[LifeExperience]:
    """The life experiences that count towards a métier."""
    return frozenset(life for life, metiers in LIFE_EXPERIENCE_METIERS.items() if rome in metiers)


def distances_km(lats: FloatArray, lons: FloatArray, lat: float, lon: float) -> FloatArray:
    """Great-circle distances (haversine) from each (lats[i], lons[i]) to (lat, lon)."""
    phi1 = np.radians(lats)
    phi2 = np.radians(lat)
    h = np.sin((phi2 - phi1) / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(np.radians(lon - lons) / 2) ** 2
    out: FloatArray = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(h)))
    return out


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """One distance, computed exactly as ``distances_km`` computes it inside an array."""
    return float(distances_km(np.array([a[0]]), np.array([a[1]]), b[0], b[1])[0])


def score(
    distance: FloatArray,
    radius: NDArray[np.floating[Any]],
    close: NDArray[np.bool_],
    months: NDArray[np.integer],
    life_counts: NDArray[np.bool_],
    housing_ok: NDArray[np.bool_],
    start_gap_days: NDArray[np.integer],
    night: bool,
    weekend: bool,
    w: Weights = WEIGHTS,
) -> NDArray[np.int64]:
    """Integer scores 0–100 of candidates for one offer (see ``Weights``)."""
    near = 1.0 - distance / np.maximum(radius.astype(np.float64), 1.0)
    points = w.distance * np.clip(near, 0.0, 1.0)
    points = points + np.where(close, w.close_metier, w.exact_metier)
    points = points + w.experience * np.minimum(months.astype(np.float64), w.experience_full_months) / (
        w.experience_full_months
    )
    points = points + np.where(life_counts, w.life_experience, 0.0)
    points = points + (w.schedule - w.schedule / 2 * (int(night) + int(weekend)))
    points = points + np.where(housing_ok, w.housing, 0.0)
    late = (np.abs(start_gap_days).astype(np.float64) - w.start_full_days) / (
        w.start_zero_days - w.start_full_days
    )
    points = points + w.start * np.clip(1.0 - late, 0.0, 1.0)
    result: NDArray[np.int64] = np.clip(np.floor(points + 0.5), 0, 100).astype(np.int64)
    return result


def score_upper_bound(
    distance: FloatArray,
    radius: NDArray[np.floating[Any]],
    close: NDArray[np.bool_],
    months: NDArray[np.integer],
    life_counts: NDArray[np.bool_],
    housing_ok: NDArray[np.bool_],
    night: bool,
    weekend: bool,
    w: Weights = WEIGHTS,
) -> NDArray[np.int64]:
    """A bound no candidate's ``score`` can exceed, from what the index's postings know alone.

    Given a lower bound of the distance, every part but the start is known exactly; the start
    gets its maximum. Lets the index evaluate the most promising candidates first and stop
    once no other one can enter the top (``CandidateIndex._evaluate``).
    """
    near = 1.0 - distance / np.maximum(radius.astype(np.float64), 1.0)
    points = w.distance * np.clip(near, 0.0, 1.0)
    points = points + np.where(close, w.close_metier, w.exact_metier)
    points = points + w.experience * np.minimum(months.astype(np.float64), w.experience_full_months) / (
        w.experience_full_months
    )
    points = points + np.where(life_counts, w.life_experience, 0.0)
    points = points + (w.schedule - w.schedule / 2 * (int(night) + int(weekend)))
    points = points + np.where(housing_ok, w.housing, 0.0)
    points = points + w.start + 1e-6
    bound: NDArray[np.int64] = np.clip(np.floor(points + 0.5), 0, 100).astype(np.int64)
    return bound
