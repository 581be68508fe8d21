"""Where vocation_local keeps its downloads and run folders, and free local ports."""

from __future__ import annotations

import socket
from pathlib import Path

from vocation_local.settings import LocalSettings

LOCALHOST = "127.0.0.1"


def cache_dir() -> Path:
    """The cache folder: `$VOCATION_CACHE_DIR`, else `~/.cache/vocation` (outside the repo)."""
    base = LocalSettings().cache_dir or Path.home() / ".cache" / "vocation"
    return base.expanduser().resolve()


def default_run_dir() -> Path:
    """Where `vocation-infra up` keeps data and pid files: `$VOCATION_RUN_DIR` or `<cache>/run`."""
    configured = LocalSettings().run_dir
    return configured.expanduser().resolve() if configured else cache_dir() / "run"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:`port`."""
    try:
        with socket.create_connection((LOCALHOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_free(port: int) -> bool:
    """Whether 127.0.0.1:`port` can be bound (no server is listening on it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOCALHOST, port))
        except OSError:
            return False
        return True


DEV_CONTACTS_KEYS = "dev1:ZGV2ZWxvcG1lbnQta2V5LW5vdC1wcm9kdWN0aW9uISE="
"""The contacts key of local platforms (`make run`, end-to-end tests, benchmarks): public, so development only."""
