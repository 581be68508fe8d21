"""The matching state on disk: written when the service stops cleanly, taken back (and deleted) at start.

A snapshot is the state plus, for every partition of the state topics, the offset of the next
record it has not applied. At start, a usable snapshot is loaded and the topics are read from
those offsets instead of from the beginning; every later change (tombstones included) is applied
on top, so the result is what a full rebuild gives. Applying a record twice is harmless (state
changes are version-guarded upserts and removals), so offsets may lag the state, never lead it.

It holds personal data (each candidate's home and school positions, birth year, recognised
disability, diplomas, wanted métiers), so:

- **It exists only while the service is stopped.** `read` deletes the file whatever it finds
  (usable, stale, foreign or broken): while the service runs, erasures and withdrawals are
  applied to the state in memory, and the copy on disk would keep the people they remove. A
  crash therefore finds no snapshot and rebuilds from the topics.
- **It holds what the index holds, nothing of a removed candidate.** `write` purges the rows of
  removed candidates first (`CandidateIndex.purge_removed`): an erasure or withdrawal read after
  the previous snapshot leaves no trace of the person in the next one. No contact, name or free
  text of a candidate is ever in the state (`core/model.py`).
- **Stale snapshots are deleted, not used**: older than `MAX_AGE_S` (the compacted topics drop a
  tombstone 7 days after it was written, together with the record it erases, and an older
  snapshot could bring back a candidate erased since), written by other code (`fingerprint`:
  the format, the model and index modules, the grid setting), or dated in the future. The state
  reader also refuses one whose partitions differ or whose offsets the broker no longer has.
- **Only the service's user can read it**: it lives in `<SNAPSHOT_DIR>/private/`, a folder the
  service creates 0700 for its own user (or tightens to 0700; owned by another user, it is
  refused) — `SNAPSHOT_DIR` itself may be a volume's mount point owned by root and shared with
  a group (Kubernetes' `fsGroup`). The file is created 0600 from the start (a temporary file
  opened with those modes, written, synced, then renamed), and a file that is not the service
  user's own or that others may read is deleted unread (unpickling it could run code). A
  snapshot left directly in `SNAPSHOT_DIR` by earlier versions is deleted at start.

Instances sharing a folder never mix their writes (each writes its own temporary file, the last
rename wins); a temporary file left by a crash mid-write is deleted after `PARTIAL_MAX_AGE_S`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import stat
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from vocation_shared.logs import get_logger

from vocation_matching.core import index, learning, model, state
from vocation_matching.core.state import MatchingState

log = get_logger(__name__)

FORMAT = 2
"""2: removed candidates purged before writing; the file deleted once read."""
MAX_AGE_S = 24 * 3600.0
"""A day: far inside the 7 days the compacted topics keep a tombstone."""
MAX_AHEAD_S = 300.0
"""A snapshot dated further ahead than this (a clock set back) is not trusted."""
PARTIAL_MAX_AGE_S = 600.0
"""A temporary file older than this is a crashed write (a write takes ~1 s per million candidates)."""
FILE_NAME = "matching-state.pickle"
PRIVATE_FOLDER = "private"
"""The folder of the snapshot inside the configured one, created by and for the service's user."""
PARTIAL_SUFFIX = ".partial"
FOLDER_MODE = 0o700
FILE_MODE = 0o600

Positions = dict[tuple[str, int], int]


class SnapshotFolderError(OSError):
    """The snapshot folder cannot be made private to the service's user."""


@dataclass
class Snapshot:
    """A state and where, in each partition, the records it has not applied begin."""

    fingerprint: str
    written_at: float
    positions: Positions
    state: MatchingState


def fingerprint(cell_scale: float) -> str:
    """What a snapshot must have been written by: this format, these model, index, learning and state modules, this grid."""
    digest = hashlib.sha256(f"{FORMAT}:{cell_scale!r}".encode())
    for module in (model, index, learning, state):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()


def location(configured: Path) -> Path:
    """Where the snapshot of a configured `SNAPSHOT_DIR` lives: its `private` folder."""
    return configured / PRIVATE_FOLDER


def private_folder(configured: Path) -> Path:
    """The snapshot's folder, created 0700 (or tightened to 0700) in `configured`.

    SnapshotFolderError if it is not a directory of the service's own user. A snapshot left
    directly in `configured` by earlier versions (not private) is deleted.
    """
    configured.mkdir(parents=True, exist_ok=True)
    discard(configured, "legacy_location")
    discard_partials(configured, time.time() + PARTIAL_MAX_AGE_S + 1)
    folder = location(configured)
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=FOLDER_MODE)
    info = os.stat(folder, follow_symlinks=False)
    if not stat.S_ISDIR(info.st_mode):
        raise SnapshotFolderError(f"{folder} is not a directory: check VOCATION_SNAPSHOT_DIR")
    if info.st_uid != os.geteuid():
        raise SnapshotFolderError(
            f"{folder} belongs to another user: give VOCATION_SNAPSHOT_DIR a folder where the"
            " service's user can create its own"
        )
    if stat.S_IMODE(info.st_mode) != FOLDER_MODE:
        os.chmod(folder, FOLDER_MODE)
        log.info("state.snapshot_folder_tightened", path=str(folder), mode=oct(FOLDER_MODE))
    return folder


def write(configured: Path, state: MatchingState, positions: Positions, cell_scale: float) -> Path:
    """Write the snapshot (0600 temporary file, then rename) after purging removed candidates; its path."""
    folder = private_folder(configured)
    discard_partials(folder)
    state.candidates.purge_removed()
    target = folder / FILE_NAME
    # Instances may share a folder: each writes a temporary file of its own.
    partial = folder / f"{FILE_NAME}.{os.getpid()}.{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}"
    snapshot = Snapshot(fingerprint(cell_scale), time.time(), dict(positions), state)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    try:
        os.fchmod(descriptor, FILE_MODE)  # whatever the umask
        with os.fdopen(descriptor, "wb") as out:
            pickle.dump(snapshot, out, protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    _sync_folder(folder)
    return target


def read(configured: Path, cell_scale: float, now: float | None = None) -> Snapshot | None:
    """The snapshot of `configured` if it can be used, else None (said in the log); the file is deleted either way."""
    if configured.is_dir():
        discard(configured, "legacy_location")
    folder = location(configured)
    path = folder / FILE_NAME
    if not folder.is_dir():
        return None
    discard_partials(folder, now)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:  # a symbolic link, or a file we may not read
        log.warning("state.snapshot_unreadable", path=str(path), error=repr(exc))
        discard(folder, "unreadable")
        return None
    reason = "unreadable"
    try:
        with os.fdopen(descriptor, "rb") as source:
            info = os.fstat(source.fileno())
            if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o077:
                reason = "not_private"
                log.warning(
                    "state.snapshot_not_private", path=str(path), mode=oct(stat.S_IMODE(info.st_mode))
                )
                return None
            snapshot = pickle.load(source)  # noqa: S301 - the service user's own 0600 file in its 0700 folder
        reason = _unusable(snapshot, cell_scale, time.time() if now is None else now) or "taken"
    except Exception as exc:  # a truncated or foreign file: rebuild from the topics
        log.warning("state.snapshot_unreadable", path=str(path), error=repr(exc))
        return None
    finally:
        discard(folder, reason)
    if reason != "taken":
        log.info("state.snapshot_not_used", path=str(path), reason=reason)
        return None
    assert isinstance(snapshot, Snapshot)
    return snapshot


def _unusable(snapshot: object, cell_scale: float, now: float) -> str | None:
    """Why a snapshot read back cannot be used (other code, too old, dated ahead), or None."""
    if not isinstance(snapshot, Snapshot) or snapshot.fingerprint != fingerprint(cell_scale):
        return "other_code"
    age = now - snapshot.written_at
    if age > MAX_AGE_S:
        return "too_old"
    if age < -MAX_AHEAD_S:
        return "dated_ahead"
    return None


def discard(folder: Path, reason: str) -> bool:
    """Delete the snapshot of `folder` if there is one; whether there was."""
    try:
        (folder / FILE_NAME).unlink()
    except FileNotFoundError:
        return False
    _sync_folder(folder)
    log.info("state.snapshot_deleted", path=str(folder / FILE_NAME), reason=reason)
    return True


def discard_partials(folder: Path, now: float | None = None) -> int:
    """Delete the temporary files of crashed writes (older than `PARTIAL_MAX_AGE_S`); how many."""
    moment = time.time() if now is None else now
    removed = 0
    for partial in folder.glob(f"{FILE_NAME}.*{PARTIAL_SUFFIX}"):
        try:
            if moment - partial.lstat().st_mtime > PARTIAL_MAX_AGE_S:
                partial.unlink()
                removed += 1
        except FileNotFoundError:  # another instance's write finished or removed it meanwhile
            continue
    if removed:
        log.info("state.snapshot_partials_deleted", path=str(folder), count=removed)
    return removed


def _sync_folder(folder: Path) -> None:
    """Make a rename or a deletion in the folder durable."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
