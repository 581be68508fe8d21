"""The committed reference data files are what the build script makes from the open data."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

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


def test_data_files_are_small() -> None:
    sizes = {path.name: path.stat().st_size for path in DATA.glob("*.gz")}
    assert set(sizes) == {
        "rome_v4.json.gz",
        "rome_v4_skills.json.gz",
        "rome_v3.json.gz",
        "communes.json.gz",
    }
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


def test_build_is_deterministic() -> None:
    build = load_script()
    payload = {"b": [1, 2.5, None], "a": "é"}
    assert build.encode(payload) == build.encode(dict(reversed(payload.items())))
    assert gzip.decompress(build.encode(payload)) == '{"a":"é","b":[1,2.5,null]}'.encode()
