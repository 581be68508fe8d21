"""Secrets fail closed: outside development mode a service with a weak secret refuses to start.

No infrastructure: each service is started as a process whose broker and database addresses
point at a loopback listener that only counts connections. A service that refuses to start
exits before it connects anywhere, with one line naming the variable; a well-configured one goes
on to connect (the listener sees it), which shows the listener would have seen the others.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

import pytest
from vocation_local.paths import free_port

pytestmark = [pytest.mark.e2e]

WITHIN_S = 60.0
"""How long a refusing service may take to exit from its own start (imports on a loaded machine included)."""

AT_ONCE = max(2, 2 * (os.cpu_count() or 1))
"""Processes starting at the same time: sixteen at once on two loaded cores took minutes to import."""

GOOD_SECRET = secrets.token_urlsafe(48)
GOOD_KEYS = "k1:" + base64.b64encode(secrets.token_bytes(32)).decode()
GOOD_PSEUDONYM_KEY = secrets.token_urlsafe(48)
GOOD_LINK_KEY = secrets.token_urlsafe(48)
SHORT_SECRET = "x7Kp2mQ9zR"  # 10 bytes, no placeholder word


class Listener:
    """A loopback TCP port that accepts and closes every connection, and counts them."""

    def __init__(self) -> None:
        self.port = free_port()
        self.connections = 0
        self._socket = socket.create_server(("127.0.0.1", self.port))
        self._socket.settimeout(0.2)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        self._socket.close()


@dataclass
class Started:
    """One service process started with one configuration, and what it did."""

    module: str
    environment: dict[str, str]
    listener: Listener
    process: subprocess.Popen[bytes] = field(init=False)
    log: IO[bytes] = field(init=False)
    finished: bool = False
    output: str = ""
    returncode: int | None = None
    started_at: float = 0.0
    launched: threading.Event = field(default_factory=threading.Event)

    def starting(self) -> bool:
        """Launched, still running, and not yet at its broker or database (it is importing or checking)."""
        return self.launched.is_set() and self.process.poll() is None and not self.listener.connections

    def start(self) -> None:
        self.started_at = time.monotonic()
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - read and closed in `finish`
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module],
            env=self.environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.launched.set()

    def finish(self, within_s: float, until_connected: bool = False) -> None:
        """Wait until the process exits (or connects), at most `within_s` from its start; stop it; keep its output."""
        if self.finished:
            return
        if not self.launched.wait(timeout=30 * within_s):
            raise AssertionError(f"{self.module} was never launched")
        deadline = self.started_at + within_s
        while self.process.poll() is None and time.monotonic() < deadline:
            if until_connected and self.listener.connections:
                time.sleep(0.5)  # let it write what it says at start
                break
            time.sleep(0.1)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.returncode = None  # it had not exited by itself
        else:
            self.returncode = self.process.returncode
        self.finished = True
        self.log.seek(0)
        self.output = self.log.read().decode(errors="replace")
        self.log.close()


def _environment(listener: Listener, **settings: str | None) -> dict[str, str]:
    """The process environment: no inherited `VOCATION_*`, good secrets, then `settings` (None: unset)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("VOCATION_")}
    values: dict[str, str | None] = {
        "VOCATION_KAFKA_BOOTSTRAP": f"127.0.0.1:{listener.port}",
        "VOCATION_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{listener.port}/vocation",
        "VOCATION_HTTP_HOST": "127.0.0.1",
        "VOCATION_HTTP_PORT": str(free_port()),
        "VOCATION_SIGNING_SECRET": GOOD_SECRET,
        "VOCATION_CONTACTS_KEYS": GOOD_KEYS,
        "VOCATION_PSEUDONYM_KEY": GOOD_PSEUDONYM_KEY,
        "VOCATION_LINK_KEY": GOOD_LINK_KEY,
        "VOCATION_SMS_PROVIDER": "sink",
        "VOCATION_LOG_JSON": "false",
    } | settings
    return base | {k: v for k, v in values.items() if v is not None}


NOTIFICATIONS, EVENTS = "vocation_notifications", "vocation_events"

REFUSED: dict[str, tuple[str, dict[str, str | None], str]] = {
    "notifications-default-signing-secret": (
        NOTIFICATIONS,
        {"VOCATION_SIGNING_SECRET": None},
        "VOCATION_SIGNING_SECRET",
    ),
    "notifications-placeholder-signing-secret": (
        NOTIFICATIONS,
        {"VOCATION_SIGNING_SECRET": "CHANGE-ME"},
        "VOCATION_SIGNING_SECRET",
    ),
    "notifications-10-byte-signing-secret": (
        NOTIFICATIONS,
        {"VOCATION_SIGNING_SECRET": SHORT_SECRET},
        "VOCATION_SIGNING_SECRET",
    ),
    "notifications-public-pseudonym-key": (
        NOTIFICATIONS,
        {"VOCATION_PSEUDONYM_KEY": None},
        "VOCATION_PSEUDONYM_KEY",
    ),
    "notifications-public-link-key": (NOTIFICATIONS, {"VOCATION_LINK_KEY": None}, "VOCATION_LINK_KEY"),
    "catalogue-public-pseudonym-key": (
        "vocation_catalogue",
        {"VOCATION_PSEUDONYM_KEY": None},
        "VOCATION_PSEUDONYM_KEY",
    ),
    "catalogue-public-link-key": ("vocation_catalogue", {"VOCATION_LINK_KEY": None}, "VOCATION_LINK_KEY"),
    "notifications-no-contacts-keys": (
        NOTIFICATIONS,
        {"VOCATION_CONTACTS_KEYS": None},
        "VOCATION_CONTACTS_KEYS",
    ),
    "notifications-empty-contacts-keys": (
        NOTIFICATIONS,
        {"VOCATION_CONTACTS_KEYS": ""},
        "VOCATION_CONTACTS_KEYS",
    ),
    "notifications-real-sms-provider-without-inbound-token": (
        NOTIFICATIONS,
        {"VOCATION_SMS_PROVIDER": "brevo", "VOCATION_SMS_KEY": secrets.token_urlsafe(32)},
        "VOCATION_SMS_INBOUND",
    ),
    "events-no-contacts-keys": (EVENTS, {"VOCATION_CONTACTS_KEYS": None}, "VOCATION_CONTACTS_KEYS"),
    "events-default-pseudonym-key": (EVENTS, {"VOCATION_PSEUDONYM_KEY": None}, "VOCATION_PSEUDONYM_KEY"),
}


@pytest.fixture(scope="module")
def started() -> Iterator[dict[str, Started]]:
    """Every configuration below started in parallel, `AT_ONCE` at a time (a few seconds in all)."""
    runs: dict[str, Started] = {}
    for case, (module, settings, _) in REFUSED.items():
        listener = Listener()
        runs[case] = Started(module, _environment(listener, **settings), listener)
    for module in (NOTIFICATIONS, EVENTS):
        listener = Listener()
        runs[f"{module}-well-configured"] = Started(module, _environment(listener), listener)
        listener = Listener()
        dev = _environment(
            listener, VOCATION_DEV_MODE="true", VOCATION_SIGNING_SECRET=None, VOCATION_CONTACTS_KEYS=None
        )
        runs[f"{module}-development-mode"] = Started(module, dev, listener)
    stop = threading.Event()

    def launch() -> None:
        for run in runs.values():
            while not stop.is_set() and sum(r.starting() for r in runs.values()) >= AT_ONCE:
                time.sleep(0.05)
            if stop.is_set():
                return
            run.start()

    launcher = threading.Thread(target=launch, daemon=True)
    launcher.start()
    try:
        yield runs
    finally:
        stop.set()
        launcher.join(timeout=30)
        for run in runs.values():
            if run.launched.is_set():
                run.finish(0)
            run.listener.close()


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_service_with_a_weak_secret_refuses_to_start_naming_the_variable(
    started: dict[str, Started], case: str
) -> None:
    run = started[case]
    variable = REFUSED[case][2]
    run.finish(WITHIN_S)
    assert run.returncode not in (None, 0), (
        f"{case}: still running (or exited 0) after {WITHIN_S} s; output:\n{run.output[-3000:]}"
    )
    naming = [line for line in run.output.splitlines() if re.search(variable + r"\w*", line)]
    assert len(naming) >= 1, f"{case}: no line names {variable}; output:\n{run.output[-3000:]}"
    assert run.listener.connections == 0, (
        f"{case}: it connected to its broker or database before refusing; output:\n{run.output[-3000:]}"
    )
    assert "Traceback" not in run.output, f"{case}: a traceback instead of one line:\n{run.output[-3000:]}"
    assert SHORT_SECRET not in run.output and GOOD_SECRET not in run.output, "a secret value in the output"


@pytest.mark.parametrize("module", [NOTIFICATIONS, EVENTS])
def test_a_well_configured_service_gets_past_its_secrets_check(
    started: dict[str, Started], module: str
) -> None:
    run = started[f"{module}-well-configured"]
    run.finish(WITHIN_S, until_connected=True)
    assert run.listener.connections > 0, f"{module} never tried its broker or database:\n{run.output[-3000:]}"
    assert "InsecureConfiguration" not in run.output


@pytest.mark.parametrize("module", [NOTIFICATIONS, EVENTS])
def test_development_mode_allows_the_public_defaults_and_says_so(
    started: dict[str, Started], module: str
) -> None:
    run = started[f"{module}-development-mode"]
    run.finish(WITHIN_S, until_connected=True)
    assert run.listener.connections > 0, f"{module} refused its defaults in dev mode:\n{run.output[-3000:]}"
    assert re.search(r"development mode|VOCATION_DEV_MODE", run.output, re.IGNORECASE), (
        f"{module} did not say that development mode is on:\n{run.output[-3000:]}"
    )
