"""The state on disk: read back whole, private to the service's user, deleted once read or stale."""

from __future__ import annotations

import os
import pickle
import stat
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from vocation_matching.adapters import snapshot
from vocation_matching.core.model import stable_hash
from vocation_matching.core.state import MatchingState
from vocation_matching.testing import candidate, vacancy

pytestmark = pytest.mark.unit

ERASED = "cand-erased-7f3a9c"
ERASED_HOME = (46.123456789, 5.987654321)


def _state() -> MatchingState:
    state = MatchingState.empty()
    state.offers.upsert(vacancy(id="vac-snap-1"))
    return state


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def _traces(folder: Path, *needles: bytes) -> list[tuple[str, bytes]]:
    """Every (file, needle) such that the needle is in the file, over every file of the folder."""
    return [
        (path.name, needle)
        for path in folder.rglob("*")
        if path.is_file()
        for needle in needles
        if needle in path.read_bytes()
    ]


def test_snapshot_reads_back_the_state_and_its_offsets(tmp_path: Path) -> None:
    snapshot.write(tmp_path, _state(), {("vacancies", 0): 12, ("candidates", 1): 3}, 1.0)
    found = snapshot.read(tmp_path, 1.0)
    assert found is not None
    assert found.positions == {("vacancies", 0): 12, ("candidates", 1): 3}
    assert found.state.offers.get(vacancy(id="vac-snap-1").key) == vacancy(id="vac-snap-1")


def test_a_snapshot_is_taken_once_it_is_not_left_on_disk_while_the_service_runs(tmp_path: Path) -> None:
    snapshot.write(tmp_path, _state(), {}, 1.0)
    assert snapshot.read(tmp_path, 1.0) is not None
    assert list(snapshot.location(tmp_path).iterdir()) == []
    assert snapshot.read(tmp_path, 1.0) is None


def test_the_file_is_0600_and_the_folder_0700_whatever_the_umask(tmp_path: Path) -> None:
    folder = tmp_path / "open-folder"
    folder.mkdir(mode=0o777)
    os.chmod(folder, 0o777)  # noqa: S103 - the careless folder the service must tighten
    snapshot.location(folder).mkdir(mode=0o755)
    with _umask(0):
        path = snapshot.write(folder, _state(), {}, 1.0)
        assert (_mode(path), _mode(path.parent)) == (0o600, 0o700), "an existing folder is tightened"
        created = snapshot.private_folder(tmp_path / "new" / "snapshots")
        assert _mode(created) == 0o700 and created == snapshot.location(tmp_path / "new" / "snapshots")


def test_the_temporary_file_is_private_from_its_creation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    modes: list[int] = []
    dump = pickle.dump

    def watching_dump(value: Any, out: Any, **kwargs: Any) -> None:
        modes.append(stat.S_IMODE(os.fstat(out.fileno()).st_mode))
        dump(value, out, **kwargs)

    monkeypatch.setattr(snapshot.pickle, "dump", watching_dump)
    with _umask(0):
        snapshot.write(tmp_path, _state(), {}, 1.0)
    assert modes == [0o600]
    assert [p.name for p in snapshot.location(tmp_path).iterdir()] == [snapshot.FILE_NAME], "renamed"


def test_after_an_erasure_the_person_is_in_no_file_of_the_snapshot_folder(tmp_path: Path) -> None:
    state = _state()
    state.candidates.upsert(candidate(id=ERASED, position=ERASED_HOME, birth_year=1977))
    state.candidates.upsert(candidate(id="cand-staying"))
    needles = (
        ERASED.encode(),
        struct.pack("<q", stable_hash(ERASED)),  # the index's tie-break hash of the id
        struct.pack("<d", ERASED_HOME[0]),
        struct.pack("<d", ERASED_HOME[1]),
    )
    snapshot.write(tmp_path, state, {("candidates", 0): 1}, 1.0)
    assert _traces(tmp_path, *needles), "written while the person was there"
    restored = snapshot.read(tmp_path, 1.0)
    assert restored is not None
    restored.state.apply_tombstone("candidates", ERASED)  # the erasure read after the snapshot
    snapshot.write(tmp_path, restored.state, {("candidates", 0): 2}, 1.0)
    assert _traces(tmp_path, *needles) == []
    again = snapshot.read(tmp_path, 1.0)
    assert again is not None and list(again.state.candidates.ids()) == ["cand-staying"]
    offer, today = vacancy(id="vac-snap-1"), date(2026, 11, 22)
    assert [m.candidate_id for m in again.state.candidates.match_offer(offer, today, 50, 0)] == [
        "cand-staying"
    ]


@pytest.mark.parametrize(
    ("cell_scale", "now_offset_s", "why"),
    [
        (1.0, snapshot.MAX_AGE_S + 60, "older than a day: tombstones may be gone"),
        (2.0, 0.0, "written for another grid"),
        (1.0, -snapshot.MAX_AHEAD_S - 60, "dated ahead of the clock"),
    ],
)
def test_a_stale_snapshot_is_deleted_not_used(
    tmp_path: Path, cell_scale: float, now_offset_s: float, why: str
) -> None:
    snapshot.write(tmp_path, _state(), {}, 1.0)
    assert snapshot.read(tmp_path, cell_scale, now=time.time() + now_offset_s) is None, why
    assert list(snapshot.location(tmp_path).iterdir()) == [], why


def test_a_broken_file_or_one_others_may_read_is_deleted_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = snapshot.private_folder(tmp_path) / snapshot.FILE_NAME
    path.write_bytes(b"not a pickle")
    os.chmod(path, 0o600)
    assert snapshot.read(tmp_path, 1.0) is None and not path.exists()
    snapshot.write(tmp_path, _state(), {}, 1.0)
    os.chmod(path, 0o644)

    def refuse(*_: Any) -> Any:
        raise AssertionError("a file others may have written must not be unpickled")

    monkeypatch.setattr(snapshot.pickle, "load", refuse)
    assert snapshot.read(tmp_path, 1.0) is None and not path.exists()
    assert snapshot.read(tmp_path / "absent", 1.0) is None


def test_a_temporary_file_left_by_a_crashed_write_is_deleted_a_young_one_kept(tmp_path: Path) -> None:
    folder = snapshot.private_folder(tmp_path)
    old = folder / f"{snapshot.FILE_NAME}.123.deadbeef{snapshot.PARTIAL_SUFFIX}"
    young = folder / f"{snapshot.FILE_NAME}.456.cafecafe{snapshot.PARTIAL_SUFFIX}"
    for partial in (old, young):
        partial.write_bytes(ERASED.encode())
    long_ago = time.time() - snapshot.PARTIAL_MAX_AGE_S - 60
    os.utime(old, (long_ago, long_ago))
    assert snapshot.read(tmp_path, 1.0) is None
    assert sorted(p.name for p in folder.iterdir()) == [young.name], "another instance may be writing it"


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_a_snapshot_folder_of_another_user_is_refused_a_shared_mount_point_is_not(tmp_path: Path) -> None:
    theirs = snapshot.location(tmp_path / "theirs")
    theirs.mkdir(mode=0o700, parents=True)
    os.chown(theirs, 65534, 65534)
    with pytest.raises(snapshot.SnapshotFolderError, match="VOCATION_SNAPSHOT_DIR"):
        snapshot.write(tmp_path / "theirs", _state(), {}, 1.0)
    assert list(theirs.iterdir()) == []
    # A volume's mount point: root's (here another user's), shared with a group (fsGroup), setgid.
    mount = tmp_path / "volume"
    mount.mkdir()
    os.chown(mount, 65534, 65534)
    os.chmod(mount, 0o2775)  # noqa: S103 - what fsGroup makes of a volume
    path = snapshot.write(mount, _state(), {}, 1.0)
    assert path.parent.stat().st_uid == os.geteuid() and _mode(path.parent) == 0o700


def test_a_snapshot_left_where_earlier_versions_wrote_it_is_deleted(tmp_path: Path) -> None:
    legacy = tmp_path / snapshot.FILE_NAME
    legacy.write_bytes(ERASED.encode())
    assert snapshot.read(tmp_path, 1.0) is None and not legacy.exists()
    legacy.write_bytes(ERASED.encode())
    snapshot.private_folder(tmp_path)
    assert not legacy.exists()


def test_index_read_back_from_disk_finds_the_same_matches(tmp_path: Path) -> None:
    state = _state()
    for n, radius in enumerate([10.0, 30.0, 40.0, 80.0]):  # Ambérieu is 29 km from the offer
        state.candidates.upsert(candidate(id=f"cand-{n}", radius_km=radius, experience=(("J1501", 12 * n),)))
    state.candidates.remove("cand-3")
    state.candidates.upsert(candidate(id="cand-3", radius_km=80.0, experience=(("J1501", 36),)))
    offer, today = vacancy(id="vac-snap-1"), date(2026, 11, 22)
    expected = state.candidates.match_offer(offer, today, 50, 0)
    snapshot.write(tmp_path, state, {}, 1.0)
    found = snapshot.read(tmp_path, 1.0)
    assert found is not None
    assert len(expected) == 3 and found.state.candidates.match_offer(offer, today, 50, 0) == expected
    assert state.candidates.match_offer(offer, today, 50, 0) == expected, (
        "purged, the live index still answers"
    )
