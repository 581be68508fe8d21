"""The state on disk: read back whole, and refused when stale, foreign or unreadable."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest
from vocation_matching.adapters import snapshot
from vocation_matching.core.state import MatchingState
from vocation_matching.testing import candidate, vacancy

pytestmark = pytest.mark.unit


def _state() -> MatchingState:
    state = MatchingState.empty()
    state.offers.upsert(vacancy(id="vac-snap-1"))
    return state


def test_snapshot_reads_back_the_state_and_its_offsets(tmp_path: Path) -> None:
    snapshot.write(tmp_path, _state(), {("vacancies", 0): 12, ("candidates", 1): 3}, 1.0)
    found = snapshot.read(tmp_path, 1.0)
    assert found is not None
    assert found.positions == {("vacancies", 0): 12, ("candidates", 1): 3}
    assert found.state.offers.get(vacancy(id="vac-snap-1").key) == vacancy(id="vac-snap-1")


def test_snapshot_older_than_a_day_is_not_used_as_tombstones_may_be_gone(tmp_path: Path) -> None:
    snapshot.write(tmp_path, _state(), {}, 1.0)
    assert snapshot.read(tmp_path, 1.0, now=time.time() + snapshot.MAX_AGE_S + 60) is None


def test_snapshot_of_another_grid_or_a_broken_file_is_not_used(tmp_path: Path) -> None:
    snapshot.write(tmp_path, _state(), {}, 1.0)
    assert snapshot.read(tmp_path, 2.0) is None
    (tmp_path / snapshot.FILE_NAME).write_bytes(b"not a pickle")
    assert snapshot.read(tmp_path, 1.0) is None
    assert snapshot.read(tmp_path / "absent", 1.0) is None


def test_index_read_back_from_disk_finds_the_same_matches(tmp_path: Path) -> None:
    state = _state()
    for n, radius in enumerate([10.0, 30.0, 40.0, 80.0]):  # Ambérieu is 29 km from the offer
        state.candidates.upsert(candidate(id=f"cand-{n}", radius_km=radius, experience=(("J1501", 12 * n),)))
    snapshot.write(tmp_path, state, {}, 1.0)
    found = snapshot.read(tmp_path, 1.0)
    assert found is not None
    offer, today = vacancy(id="vac-snap-1"), date(2026, 11, 22)
    expected = state.candidates.match_offer(offer, today, 50, 0)
    assert len(expected) == 3 and found.state.candidates.match_offer(offer, today, 50, 0) == expected
