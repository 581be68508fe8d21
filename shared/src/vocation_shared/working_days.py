"""French working days: Monday to Friday except public holidays (and Alsace-Moselle's two more).

Context: an employer is reminded of an unanswered application after 5 working days, and the
application closes after 10 (docs/applications.md); the catalogue and notifications each keep one
of these clocks and must agree on the calendar.

Decision: one function, `add_working_days`, on dates in the platform's time zone. Public holidays
are the eleven of the Code du travail (L3133-1): 1 January, Easter Monday, 1 May, 8 May, Ascension,
Whit Monday, 14 July, 15 August, 1 November, 11 November, 25 December; in Moselle, Bas-Rhin and
Haut-Rhin (57, 67, 68) also Good Friday and 26 December (L3134-13). Easter is computed (the
anonymous Gregorian algorithm), so no table needs updating.

Consequence: overseas départements' own days (abolition of slavery) are not counted yet; a
reminder there may fall on such a day.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

ALSACE_MOSELLE = frozenset({"57", "67", "68"})
_FIXED = ((1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25))


def easter(year: int) -> date:
    """Easter Sunday of a Gregorian year (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 19 * weekday) // 433
    month, day = divmod(h + weekday - 7 * m + 114, 31)
    return date(year, month, day + 1)


@cache
def public_holidays(year: int, alsace_moselle: bool = False) -> frozenset[date]:
    """The public holidays of `year` in France (with Alsace-Moselle's, if asked)."""
    sunday = easter(year)
    days = {date(year, month, day) for month, day in _FIXED}
    days |= {sunday + timedelta(days=1), sunday + timedelta(days=39), sunday + timedelta(days=50)}
    if alsace_moselle:
        days |= {sunday - timedelta(days=2), date(year, 12, 26)}
    return frozenset(days)


def is_working_day(day: date, departement: str | None = None) -> bool:
    """Whether `day` is worked: a weekday, not a public holiday where the establishment is."""
    return day.weekday() < 5 and day not in public_holidays(day.year, departement in ALSACE_MOSELLE)


def add_working_days(start: date, count: int, departement: str | None = None) -> date:
    """The `count`-th working day after `start` (`start` itself never counts; `count` ≥ 0)."""
    if count < 0:
        raise ValueError("count must be zero or more")
    day = start
    while count:
        day += timedelta(days=1)
        if is_working_day(day, departement):
            count -= 1
    return day
