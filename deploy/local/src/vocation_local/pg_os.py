"""Run PostgreSQL as a non-root system user when this process is root (PostgreSQL refuses root)."""

from __future__ import annotations

import logging
import os
import pwd
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

OS_USER = "embedded_postgres"


@dataclass(frozen=True, slots=True)
class OsUser:
    """The system account PostgreSQL runs as."""

    name: str
    uid: int
    gid: int


def server_os_user() -> OsUser | None:
    """The account to run PostgreSQL as: None (this user) unless root, else `embedded_postgres`.

    The account is created (system account, no home, no login shell) when missing.
    """
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(OS_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home",
             "--shell", "/usr/sbin/nologin", OS_USER],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        entry = pwd.getpwnam(OS_USER)
    return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def grant_traverse(path: Path, user: OsUser) -> list[Path]:
    """Let `user` reach `path`: add the search (x) bit for others on ancestors that lack it.

    Only the traverse bit is added, never read: folder listings stay private. Returns what changed.
    """
    changed: list[Path] = []
    for ancestor in reversed(path.resolve().parents):
        mode = ancestor.stat()
        if mode.st_uid == user.uid or mode.st_mode & stat.S_IXOTH:
            continue
        ancestor.chmod(stat.S_IMODE(mode.st_mode) | stat.S_IXOTH)
        changed.append(ancestor)
        log.warning("added the traverse bit (o+x) to %s so %s can reach %s", ancestor, user.name, path)
    return changed


def prepare_data_dir(data_dir: Path, user: OsUser | None) -> None:
    """Create `data_dir` (mode 0700) owned by the server's account, reachable by it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if user is not None:
        grant_traverse(data_dir, user)
        if data_dir.stat().st_uid != user.uid:
            os.chown(data_dir, user.uid, user.gid)
    data_dir.chmod(0o700)


def check_binaries(bin_dir: Path, user: OsUser | None) -> None:
    """Make sure the server's account can reach and run the PostgreSQL binaries."""
    if user is None:
        return
    grant_traverse(bin_dir, user)
    postgres = bin_dir / "postgres"
    if not postgres.stat().st_mode & stat.S_IXOTH:
        raise PermissionError(f"{postgres} is not executable by {user.name}")


def run_as_kwargs(user: OsUser | None) -> dict[str, object]:
    """subprocess keyword arguments that run a command as `user` (none when None)."""
    if user is None:
        return {}
    return {"user": user.uid, "group": user.gid, "extra_groups": [], "cwd": "/"}
