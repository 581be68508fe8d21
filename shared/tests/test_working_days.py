"""French working days: weekends, the eleven public holidays, Easter's, and Alsace-Moselle's two more."""

from __future__ import annotations

from datetime import date

import pytest
from vocation_shared.working_days import add_working_days, easter, is_working_day, public_holidays

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("year", "sunday"),
    [
        (2024, date(2024, 3, 31)),
        (2025, date(2025, 4, 20)),
        (2026, date(2026, 4, 5)),
        (2038, date(2038, 4, 25)),
    ],
)
def test_easter_sunday(year: int, sunday: date) -> None:
    assert easter(year) == sunday


def test_the_eleven_holidays_of_2026_and_alsace_moselles_two_more() -> None:
    national = public_holidays(2026)
    assert len(national) == 11
    assert {
        date(2026, 4, 6),
        date(2026, 5, 14),
        date(2026, 5, 25),
    } <= national  # Easter Monday, Ascension, Whit Monday
    assert public_holidays(2026, alsace_moselle=True) - national == {date(2026, 4, 3), date(2026, 12, 26)}


def test_weekends_and_holidays_are_not_worked_and_alsace_moselle_depends_on_the_departement() -> None:
    assert is_working_day(date(2026, 12, 3))
    assert not is_working_day(date(2026, 12, 5))  # Saturday
    assert not is_working_day(date(2026, 7, 14))
    assert is_working_day(date(2026, 4, 3)) and not is_working_day(date(2026, 4, 3), "67")  # Good Friday


def test_five_working_days_skip_weekends_and_holidays() -> None:
    assert add_working_days(date(2026, 12, 3), 5) == date(2026, 12, 10)  # Thursday → next Thursday
    # Submitted on Christmas Eve: 25 Dec and 1 Jan are holidays.
    assert add_working_days(date(2026, 12, 24), 5) == date(2027, 1, 4)
    assert add_working_days(date(2025, 12, 24), 5) == date(2026, 1, 2)
    assert add_working_days(date(2025, 12, 24), 5, "57") == date(2026, 1, 5)  # 26 Dec, a Friday, too
    assert add_working_days(date(2026, 4, 2), 1, "68") == date(2026, 4, 7)  # Good Friday, Easter Monday
    assert add_working_days(date(2026, 12, 5), 0) == date(2026, 12, 5)
    with pytest.raises(ValueError, match="zero or more"):
        add_working_days(date(2026, 12, 3), -1)
