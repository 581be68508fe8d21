"""The real `python -m vocation_notifications` process: it refuses weak secrets with one line before connecting; its client address."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
from vocation_local.answering import wait_answering
from vocation_notifications.testing import TEST_CONTACTS_KEYS, free_port
from vocation_shared.testing.process import service_environment, start_service

pytestmark = pytest.mark.integration

GOOD = "Xq3v0b8kJm2Yt7Rw1Zp4Lc9Hs6Nd5Fe0Ga8Ub3Vi2Wo7Ex"


def _environment(**values: str) -> dict[str, str]:
    """No VOCATION_* from the caller; nothing listens at the broker's and database's addresses."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("VOCATION_")}
    nowhere = free_port()
    return {
        **kept,
        "VOCATION_KAFKA_BOOTSTRAP": f"127.0.0.1:{nowhere}",
        "VOCATION_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{nowhere}/notifications",
        "VOCATION_HTTP_PORT": str(free_port()),
        **values,
    }


def _refused(**values: str) -> str:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "vocation_notifications"],
        env=_environment(**values),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert time.monotonic() - started < 30  # no connection attempt: it stops at once
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(
    ("values", "variable", "command"),
    [
        ({"VOCATION_CONTACTS_KEYS": TEST_CONTACTS_KEYS}, "VOCATION_SIGNING_SECRET", "token_urlsafe"),
        (
            {"VOCATION_CONTACTS_KEYS": TEST_CONTACTS_KEYS, "VOCATION_SIGNING_SECRET": "CHANGE-ME"},
            "VOCATION_SIGNING_SECRET",
            "token_urlsafe",
        ),
        (
            {"VOCATION_CONTACTS_KEYS": TEST_CONTACTS_KEYS, "VOCATION_SIGNING_SECRET": "only-twenty-bytes-xy"},
            "VOCATION_SIGNING_SECRET",
            "token_urlsafe",
        ),
        ({"VOCATION_SIGNING_SECRET": GOOD}, "VOCATION_CONTACTS_KEYS", "contacts new-key"),
        (
            {"VOCATION_SIGNING_SECRET": GOOD, "VOCATION_CONTACTS_KEYS": "CHANGE-ME"},
            "VOCATION_CONTACTS_KEYS",
            "contacts new-key",
        ),
        (
            {
                "VOCATION_SIGNING_SECRET": GOOD,
                "VOCATION_CONTACTS_KEYS": TEST_CONTACTS_KEYS,
                "VOCATION_SMS_PROVIDER": "brevo",
            },
            "VOCATION_SMS_INBOUND_TOKEN",
            "token_urlsafe",
        ),
    ],
)
def test_the_process_stops_with_one_line_naming_the_variable_and_the_command(
    values: dict[str, str], variable: str, command: str
) -> None:
    line = _refused(**values)
    assert line.startswith(variable + " ") and command in line
    for name, value in values.items():
        if "SECRET" in name or "KEYS" in name:
            assert value not in line  # never the secret itself


def test_a_malformed_setting_is_one_line_naming_the_variable() -> None:
    line = _refused(VOCATION_SIGNING_SECRET=GOOD, VOCATION_TRUSTED_PROXIES="10.0.0.300")
    assert line.startswith("VOCATION_TRUSTED_PROXIES: ")


def test_development_mode_starts_on_the_public_defaults_and_says_so() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "vocation_notifications"],
        env=_environment(VOCATION_DEV_MODE="true"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        seen: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("VOCATION_SIGNING_SECRET" in line for line in seen):
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
        assert any("development mode" in line and "VOCATION_DEV_MODE" in line for line in seen), seen
        warning = next(line for line in seen if "VOCATION_SIGNING_SECRET" in line)
        assert "insecure secret allowed in development mode" in warning
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize("trusted", ["", "127.0.0.1"])
def test_the_real_server_counts_failures_by_socket_peer_unless_the_proxy_is_trusted(
    kafka_bootstrap: str, fresh_database: str, trusted: str
) -> None:
    """`X-Forwarded-For` from an untrusted peer cannot dodge the throttle; from a trusted proxy it names the client."""
    port = free_port()
    env = service_environment(
        kafka_bootstrap,
        fresh_database,
        port,
        base=_environment(VOCATION_DEV_MODE="true"),
        VOCATION_CONSUMER_GROUP=f"notif-proxy-{port}",
        VOCATION_WORKER_ENABLED="false",
        VOCATION_PUBLIC_FAILURES_BURST="2",
        VOCATION_TRUSTED_PROXIES=trusted,
    )
    child = start_service("vocation_notifications", env, subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_answering(child, f"{base}/health/live", timeout=90)
        statuses = [
            httpx.post(
                f"{base}/desinscription?token=forged.link",
                headers={"x-forwarded-for": f"192.0.2.{i}"},  # a new address each time
                timeout=5,
            ).status_code
            for i in range(1, 5)
        ]
    finally:
        child.terminate()
        child.wait(timeout=30)
    if trusted:
        assert statuses == [400, 400, 400, 400]  # four clients behind the proxy, one failure each
    else:
        assert statuses == [400, 400, 429, 429]  # one client, whatever it claims
