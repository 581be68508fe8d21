"""Diplomas of the care and social sector, and the métiers they qualify for."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from vocation_shared.reference.rome import normalize_rome_code


class Diploma(StrEnum):
    """A diploma code as it travels in events (``required_diploma``, ``diplomas``)."""

    DEAS = "DEAS"
    DEI = "DEI"
    DEAP = "DEAP"
    DEASS = "DEASS"
    DEEJE = "DEEJE"
    DEES = "DEES"
    DEME = "DEME"
    DEAES = "DEAES"
    DETISF = "DETISF"
    DEAF = "DEAF"
    TP_ADVF = "TP_ADVF"
    DEAVS = "DEAVS"
    DEAMP = "DEAMP"

    @property
    def info(self) -> DiplomaInfo:
        """Everything the reference knows about this diploma."""
        return DIPLOMAS[self]

    @property
    def label(self) -> str:
        """The diploma's full French name."""
        return DIPLOMAS[self].label

    @property
    def level(self) -> int | None:
        """Level in the national framework of certifications (RNCP, 2019 nomenclature)."""
        return DIPLOMAS[self].level

    @property
    def metiers(self) -> tuple[str, ...]:
        """ROME 4 codes of the métiers this diploma qualifies for."""
        return DIPLOMAS[self].metiers


@dataclass(frozen=True, slots=True)
class DiplomaInfo:
    """A diploma's reference entry."""

    code: Diploma
    label: str
    kind: str
    """``diplôme d'État`` or ``titre professionnel``."""
    level: int | None
    """RNCP level (3 = CAP, 4 = bac, 6 = licence); None where it is not asserted here."""
    metiers: tuple[str, ...]
    """ROME 4 codes of the métiers it qualifies for."""
    required_to_practise: bool
    """The law reserves the profession or its title to holders (Code de la santé publique,
    Code de l'action sociale et des familles). When False, employers or collective agreements
    may still require it: a vacancy's ``required_diploma`` is what counts for matching."""
    superseded_by: Diploma | None = None
    """For a discontinued diploma, the one its holders are deemed to hold."""


_STATE = "diplôme d'État"


def _entry(
    code: Diploma,
    label: str,
    level: int | None,
    metiers: tuple[str, ...],
    *,
    required_to_practise: bool = False,
    kind: str = _STATE,
    superseded_by: Diploma | None = None,
) -> DiplomaInfo:
    return DiplomaInfo(code, label, kind, level, metiers, required_to_practise, superseded_by)


DIPLOMAS: dict[Diploma, DiplomaInfo] = {
    info.code: info
    for info in (
        _entry(Diploma.DEAS, "Diplôme d'État d'aide-soignant", 4, ("J1501",), required_to_practise=True),
        _entry(Diploma.DEI, "Diplôme d'État d'infirmier", 6, ("J1506",), required_to_practise=True),
        _entry(
            Diploma.DEAP,
            "Diplôme d'État d'auxiliaire de puériculture",
            4,
            ("J1304",),
            required_to_practise=True,
        ),
        _entry(
            Diploma.DEASS,
            "Diplôme d'État d'assistant de service social",
            6,
            ("K1201",),
            required_to_practise=True,
        ),
        _entry(Diploma.DEEJE, "Diplôme d'État d'éducateur de jeunes enfants", 6, ("K1202",)),
        _entry(Diploma.DEES, "Diplôme d'État d'éducateur spécialisé", 6, ("K1207",)),
        _entry(Diploma.DEME, "Diplôme d'État de moniteur éducateur", 4, ("K1208",)),
        _entry(Diploma.DEAES, "Diplôme d'État d'accompagnant éducatif et social", 3, ("K1306",)),
        _entry(
            Diploma.DETISF,
            "Diplôme d'État de technicien de l'intervention sociale et familiale",
            4,
            ("K1305",),
        ),
        # Level 3 since 2005; the April 2025 reform (in force 2025-2026) moves it to level 4.
        # Practising needs the département's agrément, not the diploma.
        _entry(Diploma.DEAF, "Diplôme d'État d'assistant familial", None, ("K1309",)),
        _entry(
            Diploma.TP_ADVF,
            "Titre professionnel assistant de vie aux familles",
            3,
            ("K1311",),
            kind="titre professionnel",
        ),
        # Merged into the DEAES in 2016 (décret n° 2016-74); holders are DEAES holders by right.
        _entry(
            Diploma.DEAVS,
            "Diplôme d'État d'auxiliaire de vie sociale",
            3,
            ("K1306",),
            superseded_by=Diploma.DEAES,
        ),
        _entry(
            Diploma.DEAMP,
            "Diplôme d'État d'aide médico-psychologique",
            3,
            ("K1306",),
            superseded_by=Diploma.DEAES,
        ),
    )
}
_BY_CODE: dict[str, DiplomaInfo] = {str(code): info for code, info in DIPLOMAS.items()}


def diploma_for_metier(rome: str) -> Diploma | None:
    """The current reference diploma of a ROME 4 métier, or None (e.g. ASH J1301, unknown code)."""
    code = normalize_rome_code(rome)
    for diploma, info in DIPLOMAS.items():
        if info.superseded_by is None and code in info.metiers:
            return diploma
    return None


def metiers_for_diploma(diploma: Diploma | str) -> tuple[str, ...]:
    """ROME 4 codes of the métiers a diploma qualifies for; ValueError for an unknown code."""
    return Diploma(diploma).metiers


def holds_diploma(held: Iterable[Diploma | str], required: Diploma | str) -> bool:
    """Whether diplomas held satisfy a required one, counting discontinued diplomas' successors.

    Unknown codes among ``held`` are compared as they are (a partner may send other diplomas).
    """
    wanted = str(required)
    for code in held:
        if str(code) == wanted:
            return True
        known = _BY_CODE.get(str(code))
        if known is not None and known.superseded_by == wanted:
            return True
    return False
