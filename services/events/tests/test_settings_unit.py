"""The gateway's secrets fail closed: no contacts keys, no start (outside development mode)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError
from vocation_events.settings import EventsSettings
from vocation_events.testing.helpers import TEST_CONTACTS_KEYS

pytestmark = pytest.mark.unit


def _environment(**values: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if k not in ("VOCATION_CONTACTS_KEYS", "VOCATION_DEV_MODE")}
    # An unreachable database: the process must stop before it tries to connect.
    return {**kept, "VOCATION_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", **values}


def test_without_contacts_keys_the_gateway_refuses_to_start_with_one_line_saying_what_to_do() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vocation_events"],
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "VOCATION_CONTACTS_KEYS is empty" in done.stderr
    assert "vocation notifications contacts new-key" in done.stderr


def test_keys_are_checked_when_the_settings_are_read() -> None:
    key = "a-pseudonym-key-of-this-deployment-0123456789abcdef"
    good = EventsSettings(contacts_keys=TEST_CONTACTS_KEYS, pseudonym_key=key)  # type: ignore[arg-type]
    assert good.secret_problems() == []
    assert [p.variable for p in EventsSettings(contacts_keys=None, pseudonym_key=key).secret_problems()] == [  # type: ignore[arg-type]
        "VOCATION_CONTACTS_KEYS"
    ]
    # The erasure ledger keeps pseudonyms under this key: its public default is refused too.
    assert [p.variable for p in EventsSettings(contacts_keys=TEST_CONTACTS_KEYS).secret_problems()] == [  # type: ignore[arg-type]
        "VOCATION_PSEUDONYM_KEY"
    ]
    with pytest.raises(ValidationError, match="32 bytes"):
        EventsSettings(contacts_keys="k1:c2hvcnQ=")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        EventsSettings(webhook_allowed_networks="127.0.0.1/33")
    allowed = EventsSettings(webhook_allowed_networks="127.0.0.1/32, ::1").allowed_networks()
    assert [str(n) for n in allowed] == ["127.0.0.1/32", "::1/128"]
