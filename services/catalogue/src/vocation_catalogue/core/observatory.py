"""The observatory of recruitment needs: per département and métier, what is open and how fast it fills.

Pure: the store aggregates the read models into `NeedCounts` (one per département, métier and
catalogue); `report` merges them, names the métiers and adds the totals an operator reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from typing import Any

from vocation_shared.reference import PRIORITY_METIER_CODES, rome_v4

from vocation_catalogue.core.search import QueryError, parse_departement, parse_rome_codes

DEFAULT_WINDOW_DAYS = 90
MAX_WINDOW_DAYS = 730
MIN_PEOPLE = 5
"""Counts of people under this are not shown (statistical confidentiality, as INSEE does for small
cells): 2 nurses looking for work in a small département are nearly named by the count."""


@dataclass(frozen=True, slots=True)
class ObservatoryQuery:
    """Which needs to read: a département, métiers (none: all), over the last `window_days`."""

    departement: str | None = None
    rome_codes: tuple[str, ...] = ()
    priority_only: bool = False
    window_days: int = DEFAULT_WINDOW_DAYS

    @property
    def metiers(self) -> tuple[str, ...]:
        """The métiers to keep (empty: all): those asked, or the sector's priority ones."""
        if self.rome_codes:
            chosen = self.rome_codes
            return tuple(c for c in chosen if c in PRIORITY_METIER_CODES) if self.priority_only else chosen
        return tuple(sorted(PRIORITY_METIER_CODES)) if self.priority_only else ()


def build_observatory_query(
    departement: str | None, rome: Sequence[str], priority_only: bool, window_days: int
) -> ObservatoryQuery:
    """Validate raw parameters; raises QueryError naming the faulty one."""
    if not 1 <= window_days <= MAX_WINDOW_DAYS:
        raise QueryError("window_days", f"between 1 and {MAX_WINDOW_DAYS} days")
    return ObservatoryQuery(
        parse_departement(departement), tuple(parse_rome_codes(rome)), priority_only, window_days
    )


@dataclass(frozen=True, slots=True)
class NeedCounts:
    """What the read models say about one métier in one département (zero where nothing is known)."""

    departement: str
    rome_code: str
    open_vacancies: int = 0
    open_posts: int = 0
    """Posts still to fill in the open vacancies (posts minus posts filled)."""
    urgent_open: int = 0
    posted_in_window: int = 0
    filled_in_window: int = 0
    closed_unfilled_in_window: int = 0
    median_days_open: float | None = None
    """For the vacancies open now: days since they were posted (median)."""
    median_days_to_fill: float | None = None
    """For the vacancies filled in the window: days from posted to filled (median)."""
    immersion_places: int = 0
    """Places of immersion slots open and not over yet."""
    immersion_places_taken: int = 0
    training_places_left: int = 0
    """Places left in training sessions still taking applications."""
    candidates: int = 0
    """Registered candidates living in the département who look for this métier (among others)."""
    applications: int = 0
    """Applications submitted through the platform in the window (to vacancies of the département)."""
    applications_answered: int = 0
    """Of those, answered by the employer (an exchange proposed, declined or hired)."""
    interviews: int = 0
    """Of those, with an exchange proposed."""
    hires: int = 0
    """Of those, hired through the platform."""
    median_days_to_first_answer: float | None = None
    """For the answered ones: days from submission to the first answer (median)."""


_SUMMED = tuple(f.name for f in fields(NeedCounts) if f.type == "int")
_MEDIANS = ("median_days_open", "median_days_to_fill", "median_days_to_first_answer")
_APPLICATION_COUNTS = ("applications", "applications_answered", "interviews", "hires")
"""Counts of people's applications: hidden, with their rate and median, under `min_people` applications."""


def merge(parts: Iterable[NeedCounts]) -> list[NeedCounts]:
    """One row per (département, métier): the sums of the parts, and each median from the part that has it.

    The store sends each catalogue's figures as a separate part (vacancies, immersions,
    trainings); medians come from the vacancies only, so no two parts carry the same one.
    """
    merged: dict[tuple[str, str], NeedCounts] = {}
    for part in parts:
        key = (part.departement, part.rome_code)
        known = merged.get(key)
        if known is None:
            merged[key] = part
            continue
        sums = {name: getattr(known, name) + getattr(part, name) for name in _SUMMED}
        medians = {
            name: getattr(known, name) if getattr(known, name) is not None else getattr(part, name)
            for name in _MEDIANS
        }
        merged[key] = replace(known, **sums, **medians)
    return list(merged.values())


def report(
    parts: Iterable[NeedCounts], query: ObservatoryQuery, as_of: datetime, *, min_people: int = MIN_PEOPLE
) -> dict[str, object]:
    """The observatory's answer: needs sorted by posts to fill (most first), métiers named, totals.

    A count of candidates from 1 to `min_people - 1` is shown as null, with its ratio to the
    posts, and left out of the totals (else the total minus the rows shown would give it back).
    So are the application counts (with the answer rate and the median days to a first answer)
    of a row with 1 to `min_people - 1` applications: a hire among 2 applications names people.
    """
    needs = sorted(merge(parts), key=lambda n: (-n.open_posts, -n.open_vacancies, n.departement, n.rome_code))
    metiers = rome_v4()
    rows = []
    hidden = 0
    applications_hidden = 0
    for need in needs:
        row: dict[str, Any] = asdict(need)
        metier = metiers.get(need.rome_code)
        row["metier"] = metier.label if metier is not None else None
        row["priority"] = need.rome_code in PRIORITY_METIER_CODES
        for name in _MEDIANS:
            if row[name] is not None:
                row[name] = round(row[name], 1)
        row["candidates_per_open_post"] = (
            round(need.candidates / need.open_posts, 2) if need.open_posts else None
        )
        if 0 < need.candidates < min_people:
            row["candidates"] = row["candidates_per_open_post"] = None
            hidden += 1
        row["answer_rate"] = (
            round(need.applications_answered / need.applications, 2) if need.applications else None
        )
        if 0 < need.applications < min_people:
            for name in (*_APPLICATION_COUNTS, "answer_rate", "median_days_to_first_answer"):
                row[name] = None
            applications_hidden += 1
        rows.append(row)
    totals = {name: sum(getattr(n, name) for n in needs) for name in _SUMMED}
    for name in ("candidates", *_APPLICATION_COUNTS):
        totals[name] = sum(row[name] or 0 for row in rows)
    return {
        "as_of": as_of.isoformat(),
        "departement": query.departement,
        "rome_codes": list(query.metiers),
        "window_days": query.window_days,
        "totals": totals,
        "people_counts_hidden_below": min_people,
        "people_counts_hidden": hidden,
        "application_counts_hidden": applications_hidden,
        "needs": rows,
    }
