"""The matching state on disk: written when the service stops cleanly, read at start to skip most of the rebuild.

A snapshot is the state plus, for every partition of the state topics, the offset of the next
record it has not applied. At start, a usable snapshot is loaded and the topics are read from
those offsets instead of from the beginning; every later change (tombstones included) is applied
on top, so the result is what a full rebuild gives. Applying a record twice is harmless (state
changes are version-guarded upserts and removals), so offsets may lag the state, never lead it.

A snapshot is **not** used when it is older than `MAX_AGE`: the compacted topics drop a tombstone
7 days after it was written (`delete.retention.ms`), together with the record it erases, and a
snapshot older than that could bring back a candidate erased since. Nor when it was written by
other code (`fingerprint`: the format, the model and index modules, the grid setting), when the
topics' partitions differ, or when the broker no longer has the records after its offsets.
Written to a temporary file of its own, then renamed: a crash mid-write leaves the previous
snapshot, and instances sharing a folder never mix their writes (the last rename wins).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from vocation_shared.logs import get_logger

from vocation_matching.core import index, model
from vocation_matching.core.state import MatchingState

log = get_logger(__name__)

FORMAT = 1
MAX_AGE_S = 24 * 3600.0
"""A day: far inside the 7 days the compacted topics keep a tombstone."""
FILE_NAME = "matching-state.pickle"

Positions = dict[tuple[str, int], int]


@dataclass
class Snapshot:
    """A state and where, in each partition, the records it has not applied begin."""

    fingerprint: str
    written_at: float
    positions: Positions
    state: MatchingState


def fingerprint(cell_scale: float) -> str:
    """What a snapshot must have been written by: this format, these model and index modules, this grid."""
    digest = hashlib.sha256(f"{FORMAT}:{cell_scale!r}".encode())
    for module in (model, index):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()


def write(folder: Path, state: MatchingState, positions: Positions, cell_scale: float) -> Path:
    """Write the snapshot (temporary file, then rename); its path."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / FILE_NAME
    partial = (
        folder / f"{FILE_NAME}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial"
    )  # instances may share a folder
    snapshot = Snapshot(fingerprint(cell_scale), time.time(), dict(positions), state)
    with partial.open("wb") as out:
        pickle.dump(snapshot, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, target)
    return target


def read(folder: Path, cell_scale: float, now: float | None = None) -> Snapshot | None:
    """The snapshot in `folder` if it can be used (see the module's docstring), else None (said in the log)."""
    path = folder / FILE_NAME
    if not path.exists():
        return None
    try:
        with path.open("rb") as source:
            snapshot = pickle.load(source)  # noqa: S301 - our own file, in the service's own folder
    except Exception as exc:  # a truncated or foreign file: rebuild from the topics
        log.warning("state.snapshot_unreadable", path=str(path), error=repr(exc))
        return None
    if not isinstance(snapshot, Snapshot) or snapshot.fingerprint != fingerprint(cell_scale):
        log.info("state.snapshot_of_other_code", path=str(path))
        return None
    age = (time.time() if now is None else now) - snapshot.written_at
    if age > MAX_AGE_S:
        log.info("state.snapshot_too_old", path=str(path), age_s=round(age))
        return None
    return snapshot
