"""French communes and municipal arrondissements: INSEE code, name, postal codes, position."""

from __future__ import annotations

import sys
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, cached_property
from heapq import nsmallest
from typing import Any, Literal

from vocation_shared.reference._common import fold, load_data

CommuneType = Literal["commune", "arrondissement"]

# Municipal arrondissements belong to these cities; their codes start with the prefix.
_CITY_OF_ARRONDISSEMENT = {"751": "75056", "6938": "69123", "132": "13055"}
_ARTICLES = frozenset({"l", "le", "la", "les"})
_ABBREVIATIONS = {"saint": "st", "sainte": "ste"}


def normalize_insee_code(code: str) -> str:
    """The canonical spelling of an INSEE code: stripped, upper case (``2a004`` → ``2A004``)."""
    return code.strip().upper()


@dataclass(frozen=True, slots=True)
class Commune:
    """A commune (or a municipal arrondissement of Paris, Lyon, Marseille)."""

    insee: str
    name: str
    departement: str
    region: str
    postal_codes: tuple[str, ...] = field(repr=False)
    population: int | None = field(repr=False)
    """Legal population; None for the few rows without one."""
    latitude: float | None
    """WGS84, the town hall's position; None for the ~130 communes without a known position."""
    longitude: float | None
    type: CommuneType = field(repr=False)

    @property
    def position(self) -> tuple[float, float] | None:
        """``(latitude, longitude)``, or None if unknown."""
        if self.latitude is None or self.longitude is None:
            return None
        return (self.latitude, self.longitude)

    @property
    def city_insee(self) -> str:
        """For an arrondissement, the INSEE code of its city (75056, 69123, 13055); else its own."""
        if self.type == "arrondissement":
            for prefix, city in _CITY_OF_ARRONDISSEMENT.items():
                if self.insee.startswith(prefix):
                    return city
        return self.insee


def name_keys(name: str) -> set[str]:
    """The folded forms a commune name is found under by prefix search.

    The full form, with "saint"/"sainte" abbreviated to "st"/"ste", and both without a
    leading article: "L'Abergement-Clémenciat" → {"l abergement clemenciat", "abergement
    clemenciat"}.
    """
    words = fold(name).split()
    short = [_ABBREVIATIONS.get(word, word) for word in words]
    keys = {" ".join(words), " ".join(short)}
    if len(words) > 1 and words[0] in _ARTICLES:
        keys |= {" ".join(words[1:]), " ".join(short[1:])}
    return keys


class Communes:
    """Every commune and municipal arrondissement, with lookup and autocomplete.

    The data stays in columns; a Commune object is made on first access to it, and the
    search indexes on the first search.
    """

    def __init__(self, payload: dict[str, Any]) -> None:
        columns = payload["communes"]
        intern = sys.intern
        self._insee: list[str] = columns["insee"]
        self._name: list[str] = columns["name"]
        self._departement: list[str] = [intern(code) for code in columns["departement"]]
        self._region: list[str] = [intern(code) for code in columns["region"]]
        self._postal_codes: list[str] = columns["postal_codes"]
        self._population: list[int | None] = columns["population"]
        self._latitude: list[float | None] = columns["latitude"]
        self._longitude: list[float | None] = columns["longitude"]
        self._arrondissements = frozenset(payload["arrondissements"])
        self._row = {insee: row for row, insee in enumerate(self._insee)}
        self._made: dict[int, Commune] = {}

    def __contains__(self, insee: object) -> bool:
        return isinstance(insee, str) and normalize_insee_code(insee) in self._row

    def __len__(self) -> int:
        return len(self._insee)

    def get(self, insee: str) -> Commune | None:
        """The commune of an INSEE code, or None."""
        row = self._row.get(normalize_insee_code(insee))
        return None if row is None else self._commune(row)

    def all(self) -> tuple[Commune, ...]:
        """Every commune and arrondissement, sorted by INSEE code."""
        return self._communes(range(len(self._insee)))

    def in_departement(self, departement: str) -> list[Commune]:
        """Communes and arrondissements of a département (``01``, ``2A``, ``974``), by code."""
        dep = normalize_insee_code(departement)
        if len(dep) == 1 and dep.isdigit():
            dep = f"0{dep}"
        return list(self._communes(r for r, code in enumerate(self._departement) if code == dep))

    def with_postal_code(self, postal_code: str) -> list[Commune]:
        """Communes served by exactly this postal code, most populous first."""
        code = postal_code.strip()
        keys, rows = self._postal_index
        start = bisect_left(keys, code)
        found = set(rows[start : bisect_right(keys, code, lo=start)])
        return list(self._communes(sorted(found, key=self._rank_key)))

    def search(self, query: str, limit: int = 10, *, include_arrondissements: bool = True) -> list[Commune]:
        """Autocomplete: communes whose name starts with ``query``, or whose postal code does.

        Names are compared accent-, case- and punctuation-insensitively ("bourg en b" finds
        Bourg-en-Bresse), "st"/"ste" stand for "saint"/"sainte", a leading article may be
        left out. A query of digits is a postal code prefix. Results: exact name first,
        then by population (largest first), then by name.
        """
        if limit <= 0:
            return []
        compact = query.replace(" ", "")
        exact: set[int] = set()
        if compact.isdigit():
            found = self._by_prefix(self._postal_index, compact)
        else:
            key = fold(query)
            if not key:
                return []
            found = self._by_prefix(self._name_index, key)
            keys, rows = self._name_index
            start = bisect_left(keys, key)
            exact = set(rows[start : bisect_right(keys, key, lo=start)])
        if not include_arrondissements:
            found = {r for r in found if self._insee[r] not in self._arrondissements}
        best = nsmallest(limit, found, key=lambda r: (r not in exact, *self._rank_key(r)))
        return list(self._communes(best))

    def _rank_key(self, row: int) -> tuple[int, str, str]:
        return (-(self._population[row] or 0), self._name[row], self._insee[row])

    @cached_property
    def _name_index(self) -> tuple[list[str], list[int]]:
        """Sorted search keys of the names, and the row of each key (built on first use)."""
        pairs = sorted((key, row) for row, name in enumerate(self._name) for key in name_keys(name))
        return [key for key, _ in pairs], [row for _, row in pairs]

    @cached_property
    def _postal_index(self) -> tuple[list[str], list[int]]:
        """Sorted postal codes, and the row of each (built on first use)."""
        pairs = sorted((code, row) for row, codes in enumerate(self._postal_codes) for code in codes.split())
        return [code for code, _ in pairs], [row for _, row in pairs]

    @staticmethod
    def _by_prefix(index: tuple[list[str], list[int]], prefix: str) -> set[int]:
        keys, rows = index
        start = bisect_left(keys, prefix)
        return set(rows[start : bisect_left(keys, prefix + "\U0010ffff", lo=start)])

    def _communes(self, rows: Iterable[int]) -> tuple[Commune, ...]:
        return tuple(self._commune(row) for row in rows)

    def _commune(self, row: int) -> Commune:
        commune = self._made.get(row)
        if commune is None:
            insee = self._insee[row]
            commune = Commune(
                insee=insee,
                name=self._name[row],
                departement=self._departement[row],
                region=self._region[row],
                postal_codes=tuple(self._postal_codes[row].split()),
                population=self._population[row],
                latitude=self._latitude[row],
                longitude=self._longitude[row],
                type="arrondissement" if insee in self._arrondissements else "commune",
            )
            self._made[row] = commune
        return commune


@cache
def communes() -> Communes:
    """The communes (loaded once, on first call)."""
    return Communes(load_data("communes.json.gz"))
