"""The committed reference data files are what the build script makes from the open data."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from . import open_data_sample

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_reference.py"
DATA = Path(__file__).resolve().parents[2] / "src" / "vocation_shared" / "reference" / "data"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_reference", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


COMMITTED = ("rome_v4.json.gz", "rome_v4_skills.json.gz", "rome_v3.json.gz", "communes.json.gz")


def test_data_files_are_small() -> None:
    sizes = {path.name: path.stat().st_size for path in DATA.glob("*.gz")}
    assert set(sizes) == set(COMMITTED)
    assert sum(sizes.values()) < 6_000_000


def test_data_files_are_up_to_date(tmp_path: Path) -> None:
    build = load_script()
    source: Path = build.DEFAULT_SOURCE
    if not source.is_dir():
        pytest.skip(f"open data folder {source} is absent: cannot rebuild the reference data")
    sizes = build.build(source, tmp_path)
    assert set(sizes) == {path.name for path in DATA.glob("*.gz")}
    for name in sizes:
        fresh, committed = (tmp_path / name).read_bytes(), (DATA / name).read_bytes()
        # The JSON inside must be identical; the gzip bytes too, unless zlib differs.
        assert gzip.decompress(fresh) == gzip.decompress(committed), (
            f"{name} is stale: run shared/scripts/build_reference.py"
        )
        assert json.loads(gzip.decompress(fresh))["sources"]


def test_the_build_of_the_open_data_sample_gives_the_committed_entries(tmp_path: Path) -> None:
    """On a clean clone too: the shipped miniature of the open data rebuilds its métiers and communes."""
    build = load_script()
    build.build(open_data_sample.SAMPLE, tmp_path)
    fresh = {name: _load(tmp_path / name) for name in COMMITTED}
    committed = {name: _load(DATA / name) for name in COMMITTED}
    chosen = set(open_data_sample.METIERS)

    rome, ours = fresh["rome_v4.json.gz"], committed["rome_v4.json.gz"]
    for key in ("version", "grands_domaines", "domaines", "work_contexts", "metier_columns"):
        assert rome[key] == ours[key], key
    assert _rows(rome["metiers"], chosen) == _rows(ours["metiers"], chosen)
    in_chosen = [a for a in ours["appellations"] if a[3] in chosen]
    assert [a for a in rome["appellations"] if a[3] in chosen] == in_chosen

    skills, our_skills = fresh["rome_v4_skills.json.gz"], committed["rome_v4_skills.json.gz"]
    assert {c: skills["metiers"][c] for c in chosen} == {c: our_skills["metiers"][c] for c in chosen}
    assert all(row in our_skills["skills"] for row in skills["skills"])

    v3, our_v3 = fresh["rome_v3.json.gz"], committed["rome_v3.json.gz"]
    fiches = {row[0] for row in v3["metiers"] if set(row[3]) & chosen}
    assert fiches, "the chosen métiers derive from ROME 3 fiches"
    assert _rows(v3["metiers"], fiches) == _rows(our_v3["metiers"], fiches)
    assert (v3["grands_domaines"], v3["domaines"]) == (our_v3["grands_domaines"], our_v3["domaines"])

    communes, our_communes = fresh["communes.json.gz"]["communes"], committed["communes.json.gz"]["communes"]
    at = {insee: i for i, insee in enumerate(our_communes["insee"])}
    assert len(communes["insee"]) > 600, "two whole départements"
    for column, values in communes.items():
        assert values == [our_communes[column][at[insee]] for insee in communes["insee"]], column


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(gzip.decompress(path.read_bytes()))
    return loaded


def _rows(rows: list[list[Any]], codes: set[str]) -> list[list[Any]]:
    return [row for row in rows if row[0] in codes]


def test_build_is_deterministic() -> None:
    build = load_script()
    payload = {"b": [1, 2.5, None], "a": "é"}
    assert build.encode(payload) == build.encode(dict(reversed(payload.items())))
    assert gzip.decompress(build.encode(payload)) == '{"a":"é","b":[1,2.5,null]}'.encode()
