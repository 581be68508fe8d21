"""In-memory indexes: candidates in compact numpy columns posted by (métier, radius class, grid cell); offers by métier.

A candidate is posted under each métier it could match (wanted, and close métiers when it
accepts them), in the grid cell of its home and the class of its mobility radius. A new
offer visits, for each radius class, only the cells within that class's largest radius, then
applies the hard rules and the score to those candidates as arrays. The result is the same
as evaluating every candidate with the plain rules (``ranking.brute_force_for_offer``); the
property tests check it.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray
from vocation_shared.contracts.vocabulary import (
    WORK_STUDY_CONTRACTS,
    CandidateKind,
    ContractType,
    LifeExperience,
    MatchDeclineReason,
    OfferKind,
    WorkingTime,
)
from vocation_shared.reference import EARTH_RADIUS_KM, Diploma

from vocation_matching.core.model import Candidate, Match, Offer, OfferKey, close_metiers, stable_hash
from vocation_matching.core.ranking import best_offers_for, make_match
from vocation_matching.core.rules import (
    Facts,
    effective_start,
    is_work_study,
    latest_availability,
    offer_takes_candidates,
)
from vocation_matching.core.score import (
    MAX_APPRENTICE_AGE,
    MIN_APPRENTICE_AGE,
    REGULATED_DIPLOMAS,
    distances_km,
    relevant_life_experience,
    score,
    score_upper_bound,
)

RADIUS_CLASSES: tuple[float, ...] = (5.0, 10.0, 20.0, 30.0, 50.0, 75.0, 100.0, 150.0, 200.0)
"""Upper bounds (km) of the radius classes: an offer looks for each class only as far as its bound."""
DEFAULT_CELL_SCALE = 1.0
"""A radius class's grid cell is about as wide as its largest radius times this scale."""
MIN_CELL_DEGREES = 0.02
FIRST_PASS = 512
"""Candidates in reach evaluated first (those with the best score bound), at least twice the limit."""
KM_PER_DEGREE_LAT = math.pi * 6371.0088 / 180
MAX_WANTED = 10
CLOSE_BIT = 1 << 15

CONTRACT_BITS = {ct: 1 << i for i, ct in enumerate(ContractType)}
WORKING_TIME_BITS = {wt: 1 << i for i, wt in enumerate(WorkingTime)}
DIPLOMA_BITS = {d: 1 << i for i, d in enumerate(Diploma)}
LIFE_BITS = {life: 1 << i for i, life in enumerate(LifeExperience)}
KIND_CODES = {kind: i for i, kind in enumerate(CandidateKind)}

NIGHT, WEEKEND, LICENCE, HOUSING, CLOSE_OK, IMMERSION, DISABILITY, SCHOOL = (1 << i for i in range(8))
LEARNED_BITS = {reason: 1 << (8 + i) for i, reason in enumerate(MatchDeclineReason)}
"""Flags of the refusal reasons that narrowed a candidate (`Candidate.learned`, for the reasons)."""

# Traits: what the yes/no rules ask, packed in 32 bits and copied into the postings.
T_CONTRACT_SHIFT, T_TIME_SHIFT = 13, 19
T_NIGHT, T_WEEKEND, T_LICENCE, T_IMMERSION, T_RECONVERSION, T_NEEDS_HOUSING = (1 << i for i in range(21, 27))
T_LIFE_SHIFT = 27


def traits_of(candidate: Candidate) -> int:
    """The candidate's traits bits (see ``T_*``)."""
    return (
        _bits(candidate.diplomas, DIPLOMA_BITS)  # type: ignore[arg-type]
        | _bits(candidate.contract_types, CONTRACT_BITS) << T_CONTRACT_SHIFT  # type: ignore[arg-type]
        | _bits(candidate.working_times, WORKING_TIME_BITS) << T_TIME_SHIFT  # type: ignore[arg-type]
        | (T_NIGHT if candidate.accepts_night else 0)
        | (T_WEEKEND if candidate.accepts_weekend else 0)
        | (T_LICENCE if candidate.driving_licence else 0)
        | (T_IMMERSION if candidate.wants_immersion else 0)
        | (T_RECONVERSION if candidate.kind is CandidateKind.RECONVERSION else 0)
        | (T_NEEDS_HOUSING if candidate.needs_housing else 0)
        | _bits(candidate.life_experience, LIFE_BITS) << T_LIFE_SHIFT  # type: ignore[arg-type]
    )


def required_traits(offer: Offer) -> tuple[int, int]:
    """(bits a candidate must have, bits a candidate must not have) for the offer's yes/no rules."""
    needed = 0
    forbidden = 0
    if offer.kind in (OfferKind.VACANCY, OfferKind.APPRENTICESHIP):
        if offer.required_diploma is not None and offer.contract_type not in WORK_STUDY_CONTRACTS:
            needed |= DIPLOMA_BITS[offer.required_diploma]
        if offer.contract_type is not None:
            needed |= CONTRACT_BITS[offer.contract_type] << T_CONTRACT_SHIFT
        if offer.working_time is not None:
            needed |= WORKING_TIME_BITS[offer.working_time] << T_TIME_SHIFT
        needed |= (T_NIGHT if offer.night else 0) | (T_WEEKEND if offer.weekend else 0)
        needed |= T_LICENCE if offer.driving_licence_required else 0
    elif offer.kind is OfferKind.IMMERSION:
        needed |= T_IMMERSION
    elif offer.kind is OfferKind.TRAINING:
        needed |= T_RECONVERSION
        if offer.training_diploma is not None:
            forbidden |= DIPLOMA_BITS[offer.training_diploma]
    return needed, forbidden


_COLUMNS: dict[str, tuple[type[np.generic], object]] = {
    "lat": (np.float64, np.nan),
    "lon": (np.float64, np.nan),
    "school_lat": (np.float64, np.nan),
    "school_lon": (np.float64, np.nan),
    "radius": (np.float32, 0),
    "school_radius": (np.float32, np.nan),
    "available": (np.int32, 0),
    "birth_year": (np.int16, 0),
    "contracts": (np.uint8, 0),
    "working_times": (np.uint8, 0),
    "flags": (np.uint16, 0),
    "kind": (np.uint8, 0),
    "diplomas": (np.uint16, 0),
    "prepared": (np.int8, -1),
    "life": (np.uint8, 0),
    "alive": (np.bool_, False),
    "tie": (np.int64, 0),
    "version": (np.int32, 0),
    "traits": (np.uint32, 0),
}
_RECORD = np.dtype([(name, dtype) for name, (dtype, _) in _COLUMNS.items()], align=True)
"""One record per candidate (80 bytes): a rule check gathers each candidate's fields at once."""
_WORDS = _RECORD.itemsize // 8
_DIPLOMA_LIST = list(Diploma)
_LIFE_LIST = list(LifeExperience)
_KIND_LIST = list(CandidateKind)


def _position_of(lat: float, lon: float) -> tuple[float, float] | None:
    return None if math.isnan(lat) or math.isnan(lon) else (lat, lon)


def _discard(reverse: dict[Any, set[str]], key: object, candidate_id: str) -> None:
    """Take a candidate out of a reverse map, and the key with its last candidate."""
    ids = reverse.get(key)
    if ids is not None:
        ids.discard(candidate_id)
        if not ids:
            del reverse[key]


def _bits(values: Iterable[object], table: dict[object, int]) -> int:
    total = 0
    for value in values:
        total |= table[value]
    return total


def radius_class(radius_km: float) -> int:
    """The index of the smallest class bound ≥ the radius."""
    for n, bound in enumerate(RADIUS_CLASSES):
        if radius_km <= bound:
            return n
    return len(RADIUS_CLASSES) - 1


class _Growable:
    """A one-dimensional numpy array with amortised appends."""

    def __init__(self, dtype: type[np.generic], capacity: int = 1024) -> None:
        self.data: NDArray[Any] = np.zeros(capacity, dtype=dtype)
        self.size = 0

    def append(self, value: float) -> None:
        if self.size == self.data.size:
            self.data = np.resize(self.data, self.data.size * 2)
        self.data[self.size] = value
        self.size += 1

    def view(self) -> NDArray[Any]:
        return self.data[: self.size]

    def keep(self, mask: NDArray[np.bool_]) -> None:
        kept = self.view()[mask]
        self.data = (
            np.resize(kept, max(1024, kept.size * 2)) if kept.size else np.zeros(1024, self.data.dtype)
        )
        self.size = kept.size


@dataclass(slots=True)
class _Hits:
    """Posting entries gathered for one offer: rows, info, and the home position and radius."""

    rows: NDArray[np.int32]
    info: NDArray[np.uint16]
    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    radius: NDArray[np.float32]
    traits: NDArray[np.uint32]

    @classmethod
    def empty(cls) -> _Hits:
        return cls(
            np.zeros(0, np.int32),
            np.zeros(0, np.uint16),
            np.zeros(0),
            np.zeros(0),
            np.zeros(0, np.float32),
            np.zeros(0, np.uint32),
        )

    @classmethod
    def concatenate(cls, parts: list[tuple[NDArray[Any], ...]]) -> _Hits:
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([part[n] for part in parts]) for n in range(6)))


_KEY_OFFSET = 1 << 30
_DTYPES = (np.int64, np.int32, np.uint16, np.float64, np.float64, np.float32, np.uint32)
_CODES = ("q", "i", "H", "d", "d", "f", "I")


def cell_key(y: int, x: int) -> int:
    """One sortable integer for a grid cell: row-major, so a row of cells is one contiguous range."""
    return ((y + _KEY_OFFSET) << 31) | (x + _KEY_OFFSET)


class _Posting:
    """The candidates of one (métier, radius class): a base sorted by cell, and a small unsorted delta.

    Each entry carries the candidate's row, its info (months in the métier, close bit), its
    home position and radius and its traits (diplomas, contracts, times, nights, weekends,
    licence, immersion, reconversion as bits), so that the distance and the yes/no rules run
    on contiguous slices before anything else of the candidate is looked up. New entries go to the delta (cheap appends);
    past a sixteenth of the base (or 1,024 entries) it is merged into the base, dropping removed
    candidates. A query takes, for each row of cells it needs, one contiguous slice of the base,
    and filters the delta as arrays.
    """

    __slots__ = ("base", "delta")

    def __init__(self) -> None:
        self.base: list[NDArray[Any]] = [np.zeros(0, dtype) for dtype in _DTYPES]
        self.delta: list[array[Any]] = [array(code) for code in _CODES]

    def __len__(self) -> int:
        return int(self.base[0].size) + len(self.delta[0])

    def add(self, entry: tuple[int, int, int, float, float, float, int], alive: NDArray[np.bool_]) -> None:
        for column, value in zip(self.delta, entry, strict=True):
            column.append(value)
        if len(self.delta[0]) > max(1024, self.base[0].size // 16):
            self.merge(alive)

    def _delta_arrays(self) -> list[NDArray[Any]]:
        return [
            np.frombuffer(column, dtype=dtype).copy()
            for column, dtype in zip(self.delta, _DTYPES, strict=True)
        ]

    def merge(self, alive: NDArray[np.bool_]) -> None:
        """Fold the delta into the base, keeping only alive candidates, sorted by cell."""
        merged = [np.concatenate([b, d]) for b, d in zip(self.base, self._delta_arrays(), strict=True)]
        keep = alive[merged[1]]
        if not keep.all():
            merged = [column[keep] for column in merged]
        order = np.argsort(merged[0], kind="stable")
        self.base = [column[order] for column in merged]
        self.delta = [array(code) for code in _CODES]

    def collect(self, y0: int, y1: int, x0: int, x1: int, parts: list[tuple[NDArray[Any], ...]]) -> None:
        """Append the entries (rows, info, lat, lon, radius) of the cells [y0, y1] × [x0, x1] to `parts`."""
        keys = self.base[0]
        if keys.size:
            ys = (np.arange(y0, y1 + 1, dtype=np.int64) + _KEY_OFFSET) << 31
            starts = np.searchsorted(keys, ys | (x0 + _KEY_OFFSET), side="left")
            ends = np.searchsorted(keys, ys | (x1 + _KEY_OFFSET), side="right")
            columns = self.base[1:]
            for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
                if end > start:
                    parts.append(tuple(column[start:end] for column in columns))
        if self.delta[0]:
            delta = self._delta_arrays()
            y = (delta[0] >> 31) - _KEY_OFFSET
            x = (delta[0] & ((1 << 31) - 1)) - _KEY_OFFSET
            inside = (y >= y0) & (y <= y1) & (x >= x0) & (x <= x1)
            if inside.any():
                parts.append(tuple(column[inside] for column in delta[1:]))


def _distance_lower_bound(
    lats: NDArray[np.float64], lons: NDArray[np.float64], lat: float, lon: float
) -> NDArray[np.float64] | None:
    """Distances (km) no greater than the great-circle ones, without trigonometry per candidate.

    From the haversine formula, hav(d/R) ≥ hav(Δφ) + cos²φmax · hav(Δλ) where φmax is the
    largest |latitude| involved, and sin(x/2) ≥ (x/2)(1 − x²/24): for |Δφ|, |Δλ| ≤ 0.4 rad,
    d ≥ 0.993 · R · sqrt(Δφ² + (cos φmax · Δλ)²); 0.99 of it is a safe lower bound. None when the assumptions do not hold (near the poles, very wide longitudes).
    """
    if lats.size == 0:
        return None
    phi_max = max(float(np.max(np.abs(lats))), abs(lat))
    dlon = np.radians(lons - lon)
    dlat = np.radians(lats - lat)
    if phi_max > 80.0 or float(np.max(np.abs(dlon))) > 0.4 or float(np.max(np.abs(dlat))) > 0.4:
        return None
    scaled = dlon * math.cos(math.radians(phi_max))
    bound: NDArray[np.float64] = 0.99 * EARTH_RADIUS_KM * np.sqrt(dlat * dlat + scaled * scaled) - 1e-6
    return bound


def _new_records(capacity: int) -> NDArray[Any]:
    records = np.zeros(capacity, dtype=_RECORD)
    for name, (_, fill) in _COLUMNS.items():
        records[name] = fill
    return records


class CandidateIndex:
    """Every candidate: an 80-byte record, wanted métiers, experience, and ~6 postings of 39 bytes."""

    def __init__(
        self, cell_scale: float = DEFAULT_CELL_SCALE, capacity: int = 1024, first_pass: int = FIRST_PASS
    ) -> None:
        self.cell_scale = cell_scale
        self.first_pass = first_pass
        self._cell_degrees = tuple(
            max(MIN_CELL_DEGREES, bound * cell_scale / KM_PER_DEGREE_LAT) for bound in RADIUS_CLASSES
        )
        self._capacity = capacity
        self._cols: NDArray[Any] = _new_records(capacity)
        self._wanted: NDArray[np.int16] = np.full((capacity, MAX_WANTED), -1, dtype=np.int16)
        self._exp_row = _Growable(np.int32)
        self._exp_code = _Growable(np.int16)
        self._exp_months = _Growable(np.int16)
        self._rows = 0
        self._free: list[int] = []
        self._ids: list[str | None] = []
        self._row_of: dict[str, int] = {}
        self._metier_code: dict[str, int] = {}
        self._metiers: list[str] = []
        # (métier, radius class) -> posting; info = months in the métier | CLOSE_BIT
        self._postings: dict[tuple[int, int], _Posting] = {}
        # What the candidates' refusals exclude (`core/learning.py`), for the few who refused:
        # per candidate (declined offers, excluded close métiers), and the reverse maps.
        self._learned_of: dict[str, tuple[frozenset[OfferKey], frozenset[str]]] = {}
        self._declined_by: dict[OfferKey, set[str]] = {}
        self._no_close_by: dict[str, set[str]] = {}
        self._dead_posted = 0
        self.compactions = 0

    # --- size and lookup ---

    def __len__(self) -> int:
        return len(self._row_of)

    def __contains__(self, candidate_id: object) -> bool:
        return candidate_id in self._row_of

    def version_of(self, candidate_id: str) -> int | None:
        """The indexed version of a candidate, or None."""
        row = self._row_of.get(candidate_id)
        return None if row is None else int(self._cols["version"][row])

    def ids(self) -> Iterator[str]:
        """Ids of the indexed candidates."""
        return iter(self._row_of)

    def postings_count(self) -> int:
        """Entries in the postings (a candidate has one per métier it could match)."""
        return sum(len(posting) for posting in self._postings.values())

    # --- writes ---

    def _metier(self, rome: str) -> int:
        code = self._metier_code.get(rome)
        if code is None:
            code = len(self._metiers)
            self._metier_code[rome] = code
            self._metiers.append(rome)
        return code

    def _new_row(self) -> int:
        if self._free:
            return self._free.pop()
        if self._rows == self._capacity:
            self._capacity *= 2
            grown = _new_records(self._capacity)
            grown[: self._cols.size] = self._cols
            self._cols = grown
            wanted = np.full((self._capacity, MAX_WANTED), -1, dtype=np.int16)
            wanted[: self._wanted.shape[0]] = self._wanted
            self._wanted = wanted
        self._rows += 1
        self._ids.append(None)
        return self._rows - 1

    def _cell(self, cls: int, lat: float, lon: float) -> int:
        size = self._cell_degrees[cls]
        return cell_key(math.floor(lat / size), math.floor(lon / size))

    def upsert(self, candidate: Candidate) -> None:
        """Index a candidate, replacing the version indexed before."""
        self.remove(candidate.id)
        row = self._new_row()
        c = self._cols
        flags = (
            (NIGHT if candidate.accepts_night else 0)
            | (WEEKEND if candidate.accepts_weekend else 0)
            | (LICENCE if candidate.driving_licence else 0)
            | (HOUSING if candidate.needs_housing else 0)
            | (CLOSE_OK if candidate.accepts_close else 0)
            | (IMMERSION if candidate.wants_immersion else 0)
            | (DISABILITY if candidate.recognised_disability else 0)
            | (SCHOOL if candidate.is_apprentice else 0)
            | _bits(candidate.learned, LEARNED_BITS)  # type: ignore[arg-type]
        )
        lat, lon = candidate.position if candidate.position is not None else (math.nan, math.nan)
        c["lat"][row], c["lon"][row] = lat, lon
        school = candidate.school_position or (math.nan, math.nan)
        c["school_lat"][row], c["school_lon"][row] = school
        c["radius"][row] = candidate.radius_km
        c["school_radius"][row] = (
            math.nan if candidate.school_radius_km is None else candidate.school_radius_km
        )
        c["available"][row] = candidate.available_from.toordinal()
        c["birth_year"][row] = candidate.birth_year or 0
        c["contracts"][row] = _bits(candidate.contract_types, CONTRACT_BITS)  # type: ignore[arg-type]
        c["working_times"][row] = _bits(candidate.working_times, WORKING_TIME_BITS)  # type: ignore[arg-type]
        c["flags"][row] = flags
        c["kind"][row] = KIND_CODES[candidate.kind]
        c["diplomas"][row] = _bits(candidate.diplomas, DIPLOMA_BITS)  # type: ignore[arg-type]
        c["prepared"][row] = (
            -1 if candidate.diploma_prepared is None else _DIPLOMA_LIST.index(candidate.diploma_prepared)
        )
        c["life"][row] = _bits(candidate.life_experience, LIFE_BITS)  # type: ignore[arg-type]
        c["alive"][row] = True
        c["tie"][row] = stable_hash(candidate.id)
        c["version"][row] = candidate.version
        c["traits"][row] = traits_of(candidate)
        self._wanted[row] = -1
        for n, rome in enumerate(candidate.wanted[:MAX_WANTED]):
            self._wanted[row, n] = self._metier(rome)
        for rome, months in candidate.experience:
            self._exp_row.append(row)
            self._exp_code.append(self._metier(rome))
            self._exp_months.append(months)
        self._ids[row] = candidate.id
        self._row_of[candidate.id] = row
        if candidate.declined or candidate.excluded_close:
            self._learned_of[candidate.id] = (candidate.declined, candidate.excluded_close)
            for offer_key in candidate.declined:
                self._declined_by.setdefault(offer_key, set()).add(candidate.id)
            for rome in candidate.excluded_close:
                self._no_close_by.setdefault(rome, set()).add(candidate.id)
        if not (math.isfinite(lat) and math.isfinite(lon)):
            return
        cls = radius_class(candidate.radius_km)
        key = self._cell(cls, lat, lon)
        alive = self._cols["alive"]
        traits = traits_of(candidate)
        for rome, close in self._related_metiers(candidate):
            info = min(candidate.months_in(rome), 0x7FFF) | (CLOSE_BIT if close else 0)
            posting = self._postings.get((self._metier(rome), cls))
            if posting is None:
                posting = self._postings[(self._metier(rome), cls)] = _Posting()
            posting.add((key, row, info, lat, lon, candidate.radius_km, traits), alive)

    @staticmethod
    def _related_metiers(candidate: Candidate) -> list[tuple[str, bool]]:
        related = [(rome, False) for rome in candidate.wanted]
        if candidate.accepts_close:
            seen = set(candidate.wanted)
            for rome in candidate.wanted:
                for close in sorted(close_metiers(rome) - candidate.excluded_close):
                    if close not in seen:
                        seen.add(close)
                        related.append((close, True))
        return related

    def remove(self, candidate_id: str) -> bool:
        """Forget a candidate (withdrawn, erased or replaced); False if it was not indexed."""
        row = self._row_of.pop(candidate_id, None)
        if row is None:
            return False
        self._cols["alive"][row] = False
        self._ids[row] = None
        declined, excluded = self._learned_of.pop(candidate_id, ((), ()))
        for key in declined:
            _discard(self._declined_by, key, candidate_id)
        for rome in excluded:
            _discard(self._no_close_by, rome, candidate_id)
        self._dead_posted += 1
        if self._dead_posted > max(50_000, len(self._row_of) // 4):
            self.compact()
        return True

    def compact(self) -> None:
        """Drop removed candidates from the postings and experience, and reuse their rows."""
        alive = self._cols["alive"]
        for posting in self._postings.values():
            posting.merge(alive)
        keep_exp = alive[self._exp_row.view()]
        for column in (self._exp_row, self._exp_code, self._exp_months):
            column.keep(keep_exp)
        self._free = [int(r) for r in np.flatnonzero(~alive[: self._rows])[::-1]]
        self._dead_posted = 0
        self.compactions += 1

    def purge_removed(self) -> None:
        """Compact, then blank every unused row: nothing of a removed candidate is left in memory.

        `remove` only marks a row dead (its position, birth year, flags and the hash of its id
        stay until the row is reused); before the index is written to disk, the dead rows are
        dropped from the postings and experience and their records reset to the empty values.
        """
        self.compact()
        if self._free:
            rows = np.asarray(self._free, dtype=np.int64)
            self._cols[rows] = _new_records(1)[0]
            self._wanted[rows] = -1

    # --- reads ---

    def _hits(self, metier: int, lat: float, lon: float) -> _Hits:
        parts: list[tuple[NDArray[Any], ...]] = []
        for cls, bound in enumerate(RADIUS_CLASSES):
            posting = self._postings.get((metier, cls))
            if posting is None or not len(posting):
                continue
            size = self._cell_degrees[cls]
            dlat = bound / KM_PER_DEGREE_LAT
            y0, y1 = math.floor((lat - dlat) / size), math.floor((lat + dlat) / size)
            max_abs_lat = max(abs(lat - dlat), abs(lat + dlat))
            if max_abs_lat > 80:
                dlon = 180.0
            else:
                # 10 % more than along the parallel: within 200 km and below 80° of latitude, a great
                # circle's shortcut over the parallel is far smaller than that.
                dlon = min(180.0, 1.1 * bound / (KM_PER_DEGREE_LAT * math.cos(math.radians(max_abs_lat))))
            x0, x1 = math.floor((lon - dlon) / size), math.floor((lon + dlon) / size)
            posting.collect(y0, y1, x0, x1, parts)
        return _Hits.concatenate(parts)

    def _all_related(self, rome: str, subset: NDArray[np.int64] | None = None) -> _Hits:
        """Alive candidates (all, or those of `subset` rows) whose métiers relate to `rome`, without the postings."""
        n = self._rows
        code = self._metier_code.get(rome)
        if code is None:
            return _Hits.empty()
        rows_all = np.arange(n) if subset is None else subset
        wanted = self._wanted[rows_all]
        exact = (wanted == code).any(axis=1)
        closers = [self._metier_code[w] for w in self._metier_code if rome in close_metiers(w)]
        accepts = (self._cols["flags"][rows_all] & CLOSE_OK) != 0
        close = ~exact & accepts & np.isin(wanted, closers).any(axis=1)
        if rome in self._no_close_by:
            close &= ~np.isin(rows_all, self._rows_of(self._no_close_by[rome]))
        related = (exact | close) & self._cols["alive"][rows_all] & ~np.isnan(self._cols["lat"][rows_all])
        rows = rows_all[related].astype(np.int32)
        exp_rows = self._exp_row.view()
        in_metier = self._exp_code.view() == code
        months = np.bincount(exp_rows[in_metier], weights=self._exp_months.view()[in_metier], minlength=n)
        close_bits = np.where(close[related], CLOSE_BIT, 0).astype(np.uint16)
        info = np.minimum(months[rows], 0x7FFF).astype(np.uint16) | close_bits
        c = self._cols
        return _Hits(rows, info, c["lat"][rows], c["lon"][rows], c["radius"][rows], c["traits"][rows])

    def declined_by(self, offer: OfferKey) -> frozenset[str]:
        """The candidates who declined an offer."""
        return frozenset(self._declined_by.get(offer, ()))

    def _rows_of(self, candidate_ids: Iterable[str]) -> NDArray[np.int64]:
        """The rows of these candidates (those indexed)."""
        return np.array([self._row_of[c] for c in candidate_ids if c in self._row_of], dtype=np.int64)

    def get(self, candidate_id: str) -> Candidate | None:
        """The indexed candidate, rebuilt from its record (None if not indexed)."""
        row = self._row_of.get(candidate_id)
        if row is None:
            return None
        r = self._cols[row]
        flags = int(r["flags"])
        exp_rows = self._exp_row.view()
        found = np.flatnonzero(exp_rows == row)
        experience = tuple(
            sorted(
                (self._metiers[int(self._exp_code.view()[n])], int(self._exp_months.view()[n])) for n in found
            )
        )
        declined, excluded = self._learned_of.get(candidate_id, (frozenset(), frozenset()))
        prepared = int(r["prepared"])
        return Candidate(
            id=candidate_id,
            version=int(r["version"]),
            kind=_KIND_LIST[int(r["kind"])],
            wanted=tuple(self._metiers[int(code)] for code in self._wanted[row] if code >= 0),
            accepts_close=bool(flags & CLOSE_OK),
            diplomas=frozenset(d for d in _DIPLOMA_LIST if int(r["diplomas"]) & DIPLOMA_BITS[d]),
            experience=experience,
            life_experience=frozenset(x for x in _LIFE_LIST if int(r["life"]) & LIFE_BITS[x]),
            wants_immersion=bool(flags & IMMERSION),
            position=_position_of(float(r["lat"]), float(r["lon"])),
            radius_km=float(r["radius"]),
            driving_licence=bool(flags & LICENCE),
            available_from=date.fromordinal(int(r["available"])),
            contract_types=frozenset(t for t in ContractType if int(r["contracts"]) & CONTRACT_BITS[t]),
            working_times=frozenset(t for t in WorkingTime if int(r["working_times"]) & WORKING_TIME_BITS[t]),
            accepts_night=bool(flags & NIGHT),
            accepts_weekend=bool(flags & WEEKEND),
            needs_housing=bool(flags & HOUSING),
            birth_year=int(r["birth_year"]) or None,
            recognised_disability=bool(flags & DISABILITY),
            school_position=_position_of(float(r["school_lat"]), float(r["school_lon"])),
            school_radius_km=None if math.isnan(float(r["school_radius"])) else float(r["school_radius"]),
            diploma_prepared=None if prepared < 0 else _DIPLOMA_LIST[prepared],
            declined=declined,
            excluded_close=excluded,
            learned=frozenset(reason for reason, bit in LEARNED_BITS.items() if flags & bit),
        )

    def still_matching(self, offer: Offer, candidate_ids: Iterable[str], today: date) -> set[str]:
        """Which of these candidates the offer (in its current state) matches, whatever the score."""
        rows = [self._row_of[c] for c in candidate_ids if c in self._row_of]
        if not rows or offer_takes_candidates(offer, today) is not None or offer.position is None:
            return set()
        hits = self._all_related(offer.rome, np.array(rows, dtype=np.int64))
        return {m.candidate_id for m in self._evaluate(offer, hits, today, len(rows), 0)}

    def match_offer(
        self, offer: Offer, today: date, limit: int, min_score: int, *, brute_force: bool = False
    ) -> list[Match]:
        """The best `limit` candidates for an offer with a score ≥ `min_score`, best first.

        With ``brute_force`` every indexed candidate is evaluated (no postings, no grid): the
        benchmark's baseline.
        """
        if offer_takes_candidates(offer, today) is not None or offer.position is None:
            return []
        if brute_force:
            hits = self._all_related(offer.rome)
        else:
            metier = self._metier_code.get(offer.rome)
            if metier is None:
                return []
            hits = self._hits(metier, offer.position[0], offer.position[1])
        return self._evaluate(offer, hits, today, limit, min_score)

    def _evaluate(self, offer: Offer, hits: _Hits, today: date, limit: int, min_score: int) -> list[Match]:
        """The rules of ``rules.py`` on arrays, then the score, then the top `limit` with their reasons."""
        assert offer.position is not None
        olat, olon = offer.position
        needed, forbidden = required_traits(offer)
        eligible = ((hits.traits & needed) == needed) & ((hits.traits & forbidden) == 0)
        lower = _distance_lower_bound(hits.lat, hits.lon, olat, olon)
        if lower is not None:
            eligible &= lower <= hits.radius
        chosen = np.flatnonzero(eligible)
        rows, info, lat, lon, radius = (
            hits.rows[chosen],
            hits.info[chosen],
            hits.lat[chosen],
            hits.lon[chosen],
            hits.radius[chosen],
        )
        first_pass = max(self.first_pass, 2 * limit)
        if lower is not None and rows.size > 2 * first_pass:
            # Threshold pass: evaluate first the candidates with the best score bounds (from a
            # lower bound of the distance, computed without trigonometry); if the worst of the
            # top `limit` beats every other candidate's bound, the rest cannot change the
            # result. Otherwise, everyone is evaluated (below).
            traits = hits.traits[chosen]
            life_mask = _bits(relevant_life_experience(offer.rome), LIFE_BITS) << T_LIFE_SHIFT  # type: ignore[arg-type]
            bound = score_upper_bound(
                lower[chosen],
                radius,
                (info & CLOSE_BIT) != 0,
                (info & 0x7FFF).astype(np.int64),
                (traits & life_mask) != 0,
                ((traits & T_NEEDS_HOUSING) == 0) | offer.housing_offered,
                offer.night,
                offer.weekend,
            )
            cut = np.partition(bound, rows.size - first_pass)[rows.size - first_pass]
            best = np.flatnonzero(bound > cut)
            if best.size >= limit:
                d = distances_km(lat[best], lon[best], olat, olon)
                near = d <= radius[best]
                best = best[near]
                found = self._finish(offer, rows[best], info[best], d[near], today, limit, min_score)
                if len(found) == limit and found[-1].score > cut:
                    return found
        d = distances_km(lat, lon, olat, olon)
        near = d <= radius
        return self._finish(offer, rows[near], info[near], d[near], today, limit, min_score)

    def _finish(
        self,
        offer: Offer,
        rows: NDArray[np.int32],
        info: NDArray[np.uint16],
        d: NDArray[np.float64],
        today: date,
        limit: int,
        min_score: int,
    ) -> list[Match]:
        """Every rule but the distance (already checked), the score, the top `limit` with their reasons."""
        assert offer.position is not None
        olat, olon = offer.position
        # One gather of every field of the candidates in reach (as 64-bit words: numpy's fancy
        # indexing of structured arrays is an order of magnitude slower).
        raw = self._cols.view(np.uint64).reshape(self._cols.size, _WORDS)
        c = np.take(raw, rows, axis=0).view(_RECORD).reshape(-1)
        ok = c["alive"] & (c["available"] <= latest_availability(offer, today).toordinal())
        if offer.key in self._declined_by:
            ok &= ~np.isin(rows, self._rows_of(self._declined_by[offer.key]))
        flags = c["flags"]
        school_d: NDArray[np.float64] | None = None
        if offer.kind in (OfferKind.VACANCY, OfferKind.APPRENTICESHIP):
            if offer.required_diploma is not None and not is_work_study(offer):
                ok &= (c["diplomas"] & DIPLOMA_BITS[offer.required_diploma]) != 0
            if offer.contract_type is not None:
                ok &= (c["contracts"] & CONTRACT_BITS[offer.contract_type]) != 0
            if offer.working_time is not None:
                ok &= (c["working_times"] & WORKING_TIME_BITS[offer.working_time]) != 0
            if offer.night:
                ok &= (flags & NIGHT) != 0
            if offer.weekend:
                ok &= (flags & WEEKEND) != 0
            if offer.driving_licence_required:
                ok &= (flags & LICENCE) != 0
            if is_work_study(offer):
                school_d = distances_km(c["school_lat"], c["school_lon"], olat, olon)
                ok &= ((flags & SCHOOL) == 0) | (school_d <= c["school_radius"])
            if offer.contract_type is ContractType.APPRENTISSAGE:
                birth = c["birth_year"].astype(np.int32)
                age = effective_start(offer, today).year - birth
                ok &= (
                    (birth != 0)
                    & (age >= MIN_APPRENTICE_AGE)
                    & ((age <= MAX_APPRENTICE_AGE) | ((flags & DISABILITY) != 0))
                )
        elif offer.kind is OfferKind.IMMERSION:
            ok &= (flags & IMMERSION) != 0
        elif offer.kind is OfferKind.TRAINING:
            ok &= c["kind"] == KIND_CODES[CandidateKind.RECONVERSION]
            if offer.training_diploma is None or offer.training_diploma not in REGULATED_DIPLOMAS:
                ok &= False
            else:
                ok &= (c["diplomas"] & DIPLOMA_BITS[offer.training_diploma]) == 0
        if school_d is None:
            school_d = np.full(rows.size, np.nan)
        rows, info, d, c, school_d = rows[ok], info[ok], d[ok], c[ok], school_d[ok]
        life_mask = _bits(relevant_life_experience(offer.rome), LIFE_BITS)  # type: ignore[arg-type]
        start = effective_start(offer, today).toordinal()
        scores = score(
            d,
            c["radius"],
            (info & CLOSE_BIT) != 0,
            (info & 0x7FFF).astype(np.int64),
            (c["life"] & life_mask) != 0,
            ((c["flags"] & HOUSING) == 0) | offer.housing_offered,
            start - np.maximum(c["available"], today.toordinal()).astype(np.int64),
            offer.night,
            offer.weekend,
        )
        keep = scores >= min_score
        if rows.size > limit:
            ranked = scores[keep]
            if ranked.size > limit:
                keep &= scores >= np.partition(ranked, ranked.size - limit)[ranked.size - limit]
        rows, info, d, c, school_d, scores = (
            rows[keep],
            info[keep],
            d[keep],
            c[keep],
            school_d[keep],
            scores[keep],
        )
        order = np.lexsort((c["tie"], d, -scores))[:limit]
        found = []
        for n in order.tolist():
            record = c[n]
            candidate_id = self._ids[int(rows[n])]
            assert candidate_id is not None
            record_flags = int(record["flags"])
            diplomas = int(record["diplomas"])
            prepared = int(record["prepared"])
            applies_school = bool(record_flags & SCHOOL) and is_work_study(offer)
            facts = Facts(
                distance_km=float(d[n]),
                school_distance_km=float(school_d[n]) if applies_school else None,
                close_metier=bool(int(info[n]) & CLOSE_BIT),
                months=int(info[n]) & 0x7FFF,
                life_counts=bool(int(record["life"]) & life_mask),
                needs_housing=bool(record_flags & HOUSING),
                holds_required_diploma=offer.required_diploma is not None
                and bool(diplomas & DIPLOMA_BITS[offer.required_diploma]),
                diploma_prepared=None if prepared < 0 else _DIPLOMA_LIST[prepared],
                available_from=date.fromordinal(int(record["available"])),
                radius_km=float(record["radius"]),
                learned=frozenset(r for r, bit in LEARNED_BITS.items() if record_flags & bit),
            )
            life_bits = int(record["life"]) & life_mask
            first_life = next((x for x in _LIFE_LIST if life_bits & LIFE_BITS[x]), None)
            found.append(
                make_match(candidate_id, offer, facts, int(scores[n]), today, first_life, int(record["tie"]))
            )
        return found


class OfferBook:
    """The open offers, by métier: a new candidate is checked against the offers of its métiers only."""

    def __init__(self) -> None:
        self._offers: dict[OfferKey, Offer] = {}
        self._by_metier: dict[str, set[OfferKey]] = {}

    def __len__(self) -> int:
        return len(self._offers)

    def get(self, key: OfferKey) -> Offer | None:
        """The offer's current state, or None."""
        return self._offers.get(key)

    def count(self, kind: OfferKind) -> int:
        """How many offers of a kind are known."""
        return sum(1 for o in self._offers.values() if o.kind is kind)

    def upsert(self, offer: Offer) -> None:
        """Keep the offer's new state (closed offers are kept: their withdrawals need them)."""
        self.remove(offer.key)
        self._offers[offer.key] = offer
        self._by_metier.setdefault(offer.rome, set()).add(offer.key)

    def remove(self, key: OfferKey) -> None:
        """Forget an offer (tombstone)."""
        old = self._offers.pop(key, None)
        if old is not None:
            keys = self._by_metier.get(old.rome)
            if keys is not None:
                keys.discard(key)

    def all(self) -> Iterable[Offer]:
        """Every offer."""
        return self._offers.values()

    def candidates_offers(self, candidate: Candidate) -> list[Offer]:
        """The offers in the métiers a candidate could match."""
        metiers = set(candidate.wanted)
        if candidate.accepts_close:
            for rome in candidate.wanted:
                metiers |= close_metiers(rome)
        keys: set[OfferKey] = set()
        for rome in metiers:
            keys |= self._by_metier.get(rome, set())
        return [self._offers[k] for k in keys]

    def match_candidate(self, candidate: Candidate, today: date, limit: int, min_score: int) -> list[Match]:
        """The best `limit` open offers for a candidate with a score ≥ `min_score`, best first."""
        return best_offers_for(candidate, self.candidates_offers(candidate), today, limit, min_score)
