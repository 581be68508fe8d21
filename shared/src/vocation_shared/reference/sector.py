"""The care and social sector's priority métiers and the métiers of home care."""

from __future__ import annotations

from dataclasses import dataclass

from vocation_shared.reference.diplomas import Diploma, diploma_for_metier


@dataclass(frozen=True, slots=True)
class PriorityMetier:
    """A métier the platform recruits for first, with its usual French name."""

    code: str
    """ROME 4 code."""
    name: str
    diploma: Diploma | None
    """The reference diploma (see ``Diploma.info.required_to_practise``), None if there is none."""


def _priority(code: str, name: str) -> PriorityMetier:
    return PriorityMetier(code, name, diploma_for_metier(code))


PRIORITY_METIERS: tuple[PriorityMetier, ...] = (
    _priority("J1501", "aide-soignant"),
    _priority("J1506", "infirmier"),
    _priority("J1304", "auxiliaire de puériculture"),
    _priority("J1301", "agent de service hospitalier"),
    _priority("K1306", "accompagnant éducatif et social"),
    _priority("K1311", "assistant de vie aux familles"),
    _priority("K1207", "éducateur spécialisé"),
    _priority("K1208", "moniteur éducateur"),
    _priority("K1202", "éducateur de jeunes enfants"),
    _priority("K1201", "assistant de service social"),
    _priority("K1305", "technicien de l'intervention sociale et familiale"),
    _priority("K1309", "assistant familial"),
)
PRIORITY_METIER_CODES: frozenset[str] = frozenset(m.code for m in PRIORITY_METIERS)

HOME_CARE_METIERS: frozenset[str] = frozenset({"K1302", "K1306", "K1311"})
"""Métiers of help at home where a declared life experience of caring for a relative
(``LifeExperience.CARING_FOR_RELATIVE``, proche aidant) counts as relevant experience:
assistant de vie dépendance (K1302), accompagnant éducatif et social (K1306), assistant de vie
aux familles (K1311). The daily help it involves (meals, hygiene, mobility, company) is what
these métiers do at the person's home, and none of them is legally reserved to a diploma.
Left out on purpose: aide-soignant J1501 (a regulated care métier, mostly in hospitals and
EHPAD, the DEAS is what counts), TISF K1305 (social and educational work with families), and
ASH J1301 (cleaning and hospitality in a hospital)."""
