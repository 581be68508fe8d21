"""`python -m vocation_local` end to end in a temporary run dir, each command a new process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from vocation_local.paths import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def run_args() -> Iterator[list[str]]:
    run_dir = Path(tempfile.mkdtemp(prefix="vocation-run-test-"))
    args = [
        "--run-dir", str(run_dir),
        "--kafka-port", str(free_port()),
        "--controller-port", str(free_port()),
        "--postgres-port", str(free_port()),
        "--partitions", "2",
        "--json",
    ]  # fmt: skip
    yield args
    _cli("down", args)
    shutil.rmtree(run_dir, ignore_errors=True)


def _cli(command: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vocation_local", command, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_up_status_down(run_args: list[str]) -> None:
    up = _cli("up", run_args)
    assert up.returncode == 0, up.stderr
    addresses = json.loads(up.stdout)
    assert addresses["kafka_running"]
    assert addresses["postgres_running"]
    assert set(addresses["databases"]) == {"events", "catalogue", "matching", "notifications"}

    again = _cli("up", run_args)  # reuses what runs
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == addresses

    status = _cli("status", run_args)
    assert status.returncode == 0

    down = _cli("down", run_args)
    assert down.returncode == 0, down.stderr
    stopped = json.loads(down.stdout)
    assert not stopped["kafka_running"]
    assert not stopped["postgres_running"]
    assert _cli("status", run_args).returncode == 1
