"""The catalogue as a process: `python -m vocation_catalogue` serves, is ready, and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest
from vocation_local.answering import wait_answering
from vocation_local.paths import free_port
from vocation_shared.testing.process import service_environment, start_service

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_service_process_answers_when_ready_and_stops_cleanly_on_sigterm(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    port = free_port()
    env = service_environment(
        kafka_bootstrap,
        fresh_database,
        port,
        VOCATION_CONSUMER_GROUP=f"catalogue-process-{port}",
        VOCATION_DEV_MODE="true",  # the public pseudonym key
    )
    child = start_service("vocation_catalogue", env, subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_answering(child, f"{base}/health/ready")
        metiers = httpx.get(f"{base}/v1/metiers", params={"priority": "true"}, timeout=5).json()
        assert len(metiers["items"]) == 12
        offers = httpx.get(f"{base}/v1/offers", params={"commune": "01053"}, timeout=5)
        assert offers.status_code == 200  # the topics are shared by the session: other tests' offers appear
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
        output = child.communicate()[0].decode(errors="replace")
    assert "catalogue.started" in output
    assert "catalogue.stopped" in output, "the consumers and the pool were not closed"


def test_the_service_refuses_to_start_on_the_public_pseudonym_key_outside_development_mode() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VOCATION_PSEUDONYM_KEY", "VOCATION_DEV_MODE")}
    done = subprocess.run(
        [sys.executable, "-m", "vocation_catalogue"],
        env={**env, "VOCATION_DEV_MODE": "false"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "VOCATION_PSEUDONYM_KEY" in done.stdout + done.stderr


def test_the_service_refuses_to_start_on_the_public_link_key_outside_development_mode() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VOCATION_LINK_KEY", "VOCATION_DEV_MODE")}
    done = subprocess.run(
        [sys.executable, "-m", "vocation_catalogue"],
        env={**env, "VOCATION_DEV_MODE": "false", "VOCATION_PSEUDONYM_KEY": "k" * 48},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "VOCATION_LINK_KEY" in done.stdout + done.stderr
    assert "VOCATION_PSEUDONYM_KEY" not in done.stdout + done.stderr
