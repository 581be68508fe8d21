"""French dates as candidates read them."""

from __future__ import annotations

from datetime import date

import pytest
from vocation_shared.french import long_date, short_date

pytestmark = pytest.mark.unit


def test_first_of_the_month_reads_premier_and_months_are_french() -> None:
    assert long_date(date(2026, 12, 1)) == "1er décembre 2026"
    assert long_date(date(2027, 8, 15)) == "15 août 2027"
    assert long_date(date(2026, 12, 1), weekday=True) == "mardi 1er décembre 2026"
    assert short_date(date(2027, 2, 3)) == "03/02"
