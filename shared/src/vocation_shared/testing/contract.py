"""Contract tests: one fixture that gives each test the in-memory fake, then the real adapter."""

from __future__ import annotations

from typing import Any

import pytest


def fake_then_real(fake: str, real: str, *, name: str) -> Any:
    """A fixture named `name` whose value is the fixture `fake` (the test marked `unit`), then the
    fixture `real` (marked `integration`): the same test checks that both keep the port's contract.

    Assign it at a test module's top level: `units = fake_then_real("fake_units", "postgres_units", name="units")`.
    """

    @pytest.fixture(
        name=name,
        params=[
            pytest.param(fake, marks=pytest.mark.unit, id="fake"),
            pytest.param(real, marks=pytest.mark.integration, id="real"),
        ],
    )
    def chosen(request: pytest.FixtureRequest) -> Any:
        return request.getfixturevalue(request.param)

    return chosen
