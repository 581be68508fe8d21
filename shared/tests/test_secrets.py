"""Secrets fail closed outside development mode."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from vocation_shared.secrets import InsecureConfiguration, fail_closed, weak_secret

pytestmark = pytest.mark.unit


class _Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


@pytest.mark.parametrize(
    "value", ["", "change-me-in-production", "CHANGE-ME", "changeme", "short-but-real-1"]
)
def test_weak_values_are_named(value: str) -> None:
    assert weak_secret("VOCATION_X", value, public_default="change-me-in-production") is not None


def test_a_random_secret_passes() -> None:
    assert weak_secret("VOCATION_X", secrets.token_urlsafe(48)) is None


def test_outside_development_the_service_stops_with_one_line_naming_the_variable() -> None:
    with pytest.raises(InsecureConfiguration) as stopped:
        fail_closed([weak_secret("VOCATION_SIGNING_SECRET", "changeme")], dev_mode=False, log=_Log())
    line = str(stopped.value)
    assert "VOCATION_SIGNING_SECRET" in line and "token_urlsafe" in line and "\n" not in line


def test_in_development_it_warns_and_says_the_mode_is_on() -> None:
    log = _Log()
    fail_closed([weak_secret("VOCATION_SIGNING_SECRET", "changeme")], dev_mode=True, log=log)
    assert log.lines[0][0].startswith("development mode")
    assert log.lines[1][1]["variable"] == "VOCATION_SIGNING_SECRET"
    assert all("changeme" not in str(line) for line in log.lines)
