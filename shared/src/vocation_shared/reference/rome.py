"""France Travail's ROME referential of métiers: version 4 (v460), historical version 3 (v344)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any

from vocation_shared.reference._common import UnknownCodeError, fold, load_data

_ROME_CODE = re.compile(r"^[A-Z][0-9]{4}$")


def normalize_rome_code(code: str) -> str:
    """The canonical spelling of a ROME code: stripped, upper case."""
    return code.strip().upper()


@dataclass(frozen=True, slots=True)
class Domain:
    """A grand domaine (one letter, e.g. ``K``) or a domaine professionnel (e.g. ``K13``)."""

    code: str
    label: str


@dataclass(frozen=True, slots=True)
class Appellation:
    """One of the job titles of a métier (e.g. "Aide-soignant / Aide-soignante de nuit")."""

    code_ogr: str
    label: str
    short_label: str
    rome: str
    """ROME 4 code of the métier it belongs to."""
    rarely_used: bool


@dataclass(frozen=True, slots=True)
class WorkContext:
    """A working condition of a métier (e.g. "Travail de nuit"), with its category."""

    code_ogr: str
    label: str
    category: str


@dataclass(frozen=True, slots=True)
class Metier:
    """A ROME 4 fiche métier."""

    code: str
    label: str
    grand_domaine: Domain
    domaine: Domain
    regulated: bool | None
    """France Travail's ``emploi_reglemente``; None where the source leaves it blank."""
    rome_v3: str
    """The ROME v3 fiche this métier derives from (``code_rome_parent``)."""
    definition: str = field(repr=False)
    """The fiche's definition, one sentence per line, in the source's order."""
    access: str = field(repr=False)
    """How to get into the métier (diplomas, agréments), one sentence per line."""
    appellations: tuple[Appellation, ...] = field(repr=False)
    close_metiers: tuple[str, ...] = field(repr=False)
    """ROME 4 codes of the closest métiers (mobility), closest first."""
    work_contexts: tuple[WorkContext, ...] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Skill:
    """A savoir-faire, savoir-être professionnel or savoir of the ROME 4 referential."""

    code_ogr: str
    kind: str
    """``savoir-faire``, ``savoir-être`` or ``savoir``."""
    label: str


@dataclass(frozen=True, slots=True)
class MetierSkills:
    """The skills of one métier, each list sorted by label."""

    rome: str
    savoir_faire: tuple[Skill, ...]
    savoir_etre: tuple[Skill, ...]
    savoirs: tuple[Skill, ...]
    core: frozenset[str]
    """Codes of the skills France Travail marks as the heart of the métier ("Principale")."""
    emerging: frozenset[str]
    """Codes of the skills France Travail marks as emerging ("Émergente")."""


def _matches(haystack: str, tokens: list[str]) -> bool:
    """Whether every token starts a word of ``haystack`` (a folded text with a leading space)."""
    return all(f" {token}" in haystack for token in tokens)


class RomeV4:
    """The ROME 4 referential: métiers, appellations, mobility, skills (loaded on first use)."""

    version = "v460"

    def __init__(self, payload: dict[str, Any]) -> None:
        grands = {code: Domain(code, label) for code, label in payload["grands_domaines"].items()}
        domaines = {code: Domain(code, label) for code, label in payload["domaines"].items()}
        contexts = {
            code: WorkContext(code, label, category)
            for code, (label, category) in payload["work_contexts"].items()
        }
        by_metier: dict[str, list[Appellation]] = {}
        self._appellations: dict[str, Appellation] = {}
        for code_ogr, label, short_label, rome, rarely_used in payload["appellations"]:
            appellation = Appellation(code_ogr, label, short_label, rome, rarely_used)
            self._appellations[code_ogr] = appellation
            by_metier.setdefault(rome, []).append(appellation)
        self._metiers: dict[str, Metier] = {}
        for row in payload["metiers"]:
            code, label, domaine, regulated, rome_v3, definition, access, close, ctx = row
            self._metiers[code] = Metier(
                code=code,
                label=label,
                grand_domaine=grands[domaine[0]],
                domaine=domaines[domaine],
                regulated=regulated,
                rome_v3=rome_v3,
                definition=definition,
                access=access,
                appellations=tuple(by_metier.get(code, ())),
                close_metiers=tuple(close),
                work_contexts=tuple(contexts[c] for c in ctx),
            )
        self._grands_domaines = grands
        self._domaines = domaines

    @cached_property
    def _metier_index(self) -> list[tuple[str, Metier]]:
        return [(f" {fold(m.label)}", m) for m in self._metiers.values()]

    @cached_property
    def _appellation_index(self) -> list[tuple[str, Appellation]]:
        return [(f" {fold(a.label)} {fold(a.short_label)}", a) for a in self._appellations.values()]

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and normalize_rome_code(code) in self._metiers

    def __len__(self) -> int:
        return len(self._metiers)

    def get(self, code: str) -> Metier | None:
        """The métier of a ROME 4 code, or None."""
        return self._metiers.get(normalize_rome_code(code))

    def require(self, code: str) -> Metier:
        """The métier of a ROME 4 code; raises UnknownCodeError if there is none."""
        metier = self.get(code)
        if metier is None:
            raise UnknownCodeError("ROME 4", code)
        return metier

    def all(self) -> tuple[Metier, ...]:
        """Every métier, sorted by code."""
        return tuple(self._metiers.values())

    def grands_domaines(self) -> tuple[Domain, ...]:
        """The 14 grands domaines, sorted by code."""
        return tuple(sorted(self._grands_domaines.values(), key=lambda d: d.code))

    def in_domain(self, prefix: str) -> list[Metier]:
        """Métiers whose code starts with a grand domaine or domaine code, e.g. ``K`` or ``K13``."""
        prefix = normalize_rome_code(prefix)
        return [m for code, m in self._metiers.items() if code.startswith(prefix)]

    def close_metiers(self, code: str) -> list[str]:
        """ROME 4 codes of the métiers close to ``code``, closest first."""
        return list(self.require(code).close_metiers)

    def appellation(self, code_ogr: str) -> Appellation | None:
        """An appellation by its OGR code, or None."""
        return self._appellations.get(code_ogr.strip())

    def search(self, text: str, limit: int = 20) -> list[Metier]:
        """Métiers whose label or an appellation has words starting with each word of ``text``.

        Accent-, case- and punctuation-insensitive. A ROME code finds its métier. Métiers
        matched on their own label come first (label starting with the text first), then
        those matched through an appellation only.
        """
        exact = self.get(text) if _ROME_CODE.match(normalize_rome_code(text)) else None
        if exact is not None:
            return [exact]
        query = fold(text)
        tokens = query.split()
        if not tokens or limit <= 0:
            return []
        ranked: dict[str, tuple[int, str, Metier]] = {}
        for haystack, metier in self._metier_index:
            if _matches(haystack, tokens):
                rank = 0 if haystack.startswith(f" {query}") else 1
                ranked[metier.code] = (rank, haystack, metier)
        for haystack, appellation in self._appellation_index:
            if appellation.rome not in ranked and _matches(haystack, tokens):
                metier = self._metiers[appellation.rome]
                ranked[metier.code] = (2, fold(metier.label), metier)
        ordered = sorted(ranked.values(), key=lambda item: (item[0], item[1], item[2].code))
        return [metier for _, _, metier in ordered[:limit]]

    def search_appellations(self, text: str, limit: int = 20) -> list[Appellation]:
        """Appellations whose words start with each word of ``text``; best first.

        Labels that start with the text come first, rarely used ones last, shorter first.
        """
        query = fold(text)
        tokens = query.split()
        if not tokens or limit <= 0:
            return []
        hits = [
            (not haystack.startswith(f" {query}"), a.rarely_used, len(a.label), a.label, a)
            for haystack, a in self._appellation_index
            if _matches(haystack, tokens)
        ]
        hits.sort(key=lambda hit: hit[:4])
        return [hit[4] for hit in hits[:limit]]

    def skills(self, code: str) -> MetierSkills | None:
        """The skills of a métier (loads the skills file on first call), or None."""
        return _skills().get(normalize_rome_code(code))


@dataclass(frozen=True, slots=True)
class MetierV3:
    """A historical ROME v3 fiche. Its code may name another métier in version 4."""

    code: str
    label: str
    grand_domaine: Domain
    domaine: Domain
    rome_v4: tuple[str, ...]
    """ROME 4 métiers that derive from this fiche (v4 ``code_rome_parent``), sorted."""
    rome_v4_of_appellations: tuple[str, ...] = field(repr=False)
    """ROME 4 métiers that this fiche's appellations belong to now, sorted. May reach beyond
    ``rome_v4``: v3 K1301's "Aide médico-psychologique" is in v4 K1306, not in K1301."""
    appellations: frozenset[str] = field(repr=False)
    """OGR codes of the fiche's v3 appellations (the codes are stable across versions)."""


class RomeV3:
    """The historical ROME v3 referential, kept to read codes sent by older partner systems."""

    version = "v344"

    def __init__(self, payload: dict[str, Any]) -> None:
        grands = {code: Domain(code, label) for code, label in payload["grands_domaines"].items()}
        domaines = {code: Domain(code, label) for code, label in payload["domaines"].items()}
        self._metiers = {
            row[0]: MetierV3(
                code=row[0],
                label=row[1],
                grand_domaine=grands[row[2][0]],
                domaine=domaines[row[2]],
                rome_v4=tuple(row[3]),
                rome_v4_of_appellations=tuple(row[4]),
                appellations=frozenset(row[5]),
            )
            for row in payload["metiers"]
        }

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and normalize_rome_code(code) in self._metiers

    def __len__(self) -> int:
        return len(self._metiers)

    def get(self, code: str) -> MetierV3 | None:
        """The fiche of a ROME v3 code, or None."""
        return self._metiers.get(normalize_rome_code(code))

    def all(self) -> tuple[MetierV3, ...]:
        """Every v3 fiche, sorted by code."""
        return tuple(self._metiers.values())


@cache
def rome_v4() -> RomeV4:
    """The ROME 4 referential (loaded once, on first call)."""
    return RomeV4(load_data("rome_v4.json.gz"))


@cache
def rome_v3() -> RomeV3:
    """The historical ROME v3 referential (loaded once, on first call)."""
    return RomeV3(load_data("rome_v3.json.gz"))


@cache
def _skills() -> dict[str, MetierSkills]:
    payload = load_data("rome_v4_skills.json.gz")
    skills = {code: Skill(code, kind, label) for code, kind, label in payload["skills"]}
    return {
        rome: MetierSkills(
            rome=rome,
            savoir_faire=tuple(skills[c] for c in savoir_faire),
            savoir_etre=tuple(skills[c] for c in savoir_etre),
            savoirs=tuple(skills[c] for c in savoirs),
            core=frozenset(core),
            emerging=frozenset(emerging),
        )
        for rome, (savoir_faire, savoir_etre, savoirs, core, emerging) in payload["metiers"].items()
    }


def to_rome_v4(code: str, version: int, appellation: str | None = None) -> tuple[str, ...]:
    """The ROME 4 codes a code of the given ROME version stands for.

    Version 4 codes map to themselves. A v3 code maps to every v4 métier derived from it
    (``code_rome_parent``; e.g. v3 K1302 → K1302, K1306, K1311, K1312), sorted. When the
    partner also sent an appellation (OGR code) that belongs to one of those métiers, or
    that was an appellation of the v3 fiche, only the appellation's v4 métier is returned
    (v3 K1301 + "Aide médico-psychologique" → K1306). An appellation that fits neither is
    ignored. Raises UnknownCodeError for a code unknown in that version, ValueError for a
    version other than 3 or 4.
    """
    if version == 4:
        return (rome_v4().require(code).code,)
    if version != 3:
        raise ValueError(f"unsupported ROME version {version!r}: expected 3 or 4")
    fiche = rome_v3().get(code)
    if fiche is None:
        raise UnknownCodeError("ROME v3", code)
    if appellation is not None:
        found = rome_v4().appellation(appellation)
        if found is not None and (found.rome in fiche.rome_v4 or found.code_ogr in fiche.appellations):
            return (found.rome,)
    return fiche.rome_v4


def to_rome_v3(code: str) -> str:
    """The ROME v3 fiche a ROME 4 métier derives from; raises UnknownCodeError if unknown."""
    return rome_v4().require(code).rome_v3
