"""The Kafka download is taken as complete only with its marker, the same pom and every jar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from vocation_local import kafka_dist

pytestmark = pytest.mark.unit


def _fake_download(home: Path, pom_sha256: str) -> None:
    (home / "libs").mkdir(parents=True)
    jars = ["kafka_2.13-4.0.2.jar", "kafka-clients-4.0.2.jar"]
    for jar in jars:
        (home / "libs" / jar).write_bytes(b"jar")
    marker = {"pom_sha256": pom_sha256, "jars": jars}
    (home / kafka_dist.MARKER).write_text(json.dumps(marker))


def test_complete_download_is_recognised(tmp_path: Path) -> None:
    _fake_download(tmp_path, kafka_dist._pom_digest())
    assert kafka_dist.is_fetched(tmp_path)


def test_missing_jar_means_incomplete(tmp_path: Path) -> None:
    _fake_download(tmp_path, kafka_dist._pom_digest())
    (tmp_path / "libs" / "kafka-clients-4.0.2.jar").unlink()
    assert not kafka_dist.is_fetched(tmp_path)


def test_missing_marker_or_other_pom_means_incomplete(tmp_path: Path) -> None:
    _fake_download(tmp_path / "a", "another pom")
    assert not kafka_dist.is_fetched(tmp_path / "a")
    _fake_download(tmp_path / "b", kafka_dist._pom_digest())
    (tmp_path / "b" / kafka_dist.MARKER).unlink()
    assert not kafka_dist.is_fetched(tmp_path / "b")


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOCATION_CACHE_DIR", str(tmp_path))
    assert kafka_dist.kafka_home() == tmp_path / "kafka-4.0.2"
