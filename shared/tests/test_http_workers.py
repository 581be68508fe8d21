"""The worker supervisor: a worker that cannot start stops the service; one that dies is started again."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit


def _supervise(tmp_path: Path, body: str, timeout_s: float = 30) -> subprocess.CompletedProcess[str]:
    """Run `supervise(2, work)` in a process of its own (it installs signal handlers and forks)."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys, time
        from pathlib import Path
        from vocation_shared.http.workers import STARTUP_FAILED, supervise

        class Log:
            def __getattr__(self, level):
                return lambda event, **fields: print(event, fields, flush=True)

        marks = Path({str(tmp_path)!r})
        {textwrap.indent(textwrap.dedent(body), "        ").strip()}
        sys.exit(supervise(2, work, log=Log(), stop_timeout_s=5))
        """
    )
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout_s, check=False
    )


def test_a_worker_that_cannot_start_stops_the_service(tmp_path: Path) -> None:
    done = _supervise(
        tmp_path,
        """
        def work(index):
            if index == 1:
                return STARTUP_FAILED
            time.sleep(60)
            return 0
        """,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "http.worker_start_failed" in done.stdout
    assert "http.worker_died" not in done.stdout


def test_a_worker_that_dies_is_started_again_with_its_index(tmp_path: Path) -> None:
    done = _supervise(
        tmp_path,
        """
        def work(index):
            runs = len(list(marks.glob(f"{index}-*")))
            (marks / f"{index}-{os.getpid()}").touch()
            if index == 0 and runs == 0:
                os.kill(os.getpid(), signal.SIGKILL)
            if index == 0:
                os.kill(os.getppid(), signal.SIGTERM)  # the second run of worker 0: stop everything
            time.sleep(60)
            return 0
        """,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "http.worker_died" in done.stdout
    assert len(list(tmp_path.glob("0-*"))) == 2
    assert len(list(tmp_path.glob("1-*"))) == 1
