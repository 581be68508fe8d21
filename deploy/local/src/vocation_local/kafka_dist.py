"""Fetch the Apache Kafka 4.0.2 broker jars from Maven Central with `mvn`, into the cache."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from vocation_local.paths import cache_dir

KAFKA_VERSION = "4.0.2"
KAFKA_ARTIFACT = f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}"
POM = Path(__file__).resolve().parents[2] / "kafka" / "pom.xml"
MARKER = "COMPLETE.json"
FETCH_TIMEOUT_S = 900


class KafkaFetchError(RuntimeError):
    """The Kafka jars could not be fetched."""


def kafka_home() -> Path:
    """`<cache>/kafka-4.0.2`: the folder holding `libs/` and the completion marker."""
    return cache_dir() / f"kafka-{KAFKA_VERSION}"


def _pom_digest() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def is_fetched(home: Path | None = None) -> bool:
    """Whether a complete download is in `home`: marker written last, same pom, every jar there."""
    home = home or kafka_home()
    try:
        marker = json.loads((home / MARKER).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict) or marker.get("pom_sha256") != _pom_digest():
        return False
    jars = marker.get("jars")
    if not isinstance(jars, list) or not jars:
        return False
    return all((home / "libs" / str(jar)).is_file() for jar in jars)


def _mvn(pom: Path, libs: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaFetchError("`mvn` is not on PATH: install Maven (apt-get install maven)")
    command = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={libs}",
        "-DincludeScope=runtime",
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=FETCH_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        message = f"mvn took more than {FETCH_TIMEOUT_S}s fetching {KAFKA_ARTIFACT}"
        raise KafkaFetchError(message) from exc
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-4000:]
        message = f"mvn failed ({result.returncode}) fetching {KAFKA_ARTIFACT}:\n{output}"
        raise KafkaFetchError(message)


def fetch_kafka(*, quiet: bool = False) -> Path:
    """Make sure the Kafka jars are in the cache; return the `libs` folder.

    Downloads into a scratch folder, writes the marker last and renames the folder into place,
    under a file lock, so an interrupted download is never taken for a complete one.
    """
    home = kafka_home()
    if is_fetched(home):
        return home / "libs"
    if not POM.is_file():
        raise KafkaFetchError(f"missing {POM}: vocation_local must run from the repository")
    home.parent.mkdir(parents=True, exist_ok=True)
    with (home.parent / f".kafka-{KAFKA_VERSION}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_fetched(home):
            return home / "libs"
        if not quiet:
            print(f"Fetching Apache Kafka {KAFKA_VERSION} jars with mvn into {home}", file=sys.stderr)
        for stale in home.parent.glob(f".kafka-{KAFKA_VERSION}.partial-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a killed fetch (we hold the lock)
        scratch = home.parent / f".kafka-{KAFKA_VERSION}.partial-{os.getpid()}"
        try:
            (scratch / "libs").mkdir(parents=True)
            shutil.copy2(POM, scratch / "pom.xml")
            _mvn(scratch / "pom.xml", scratch / "libs")
            jars = sorted(p.name for p in (scratch / "libs").glob("*.jar"))
            if not any(j.startswith(f"kafka_2.13-{KAFKA_VERSION}") for j in jars):
                raise KafkaFetchError(f"mvn finished but kafka_2.13-{KAFKA_VERSION}.jar is missing")
            marker = {"artifact": KAFKA_ARTIFACT, "pom_sha256": _pom_digest(), "jars": jars}
            (scratch / MARKER).write_text(json.dumps(marker, indent=2))
            shutil.rmtree(home, ignore_errors=True)
            scratch.rename(home)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return home / "libs"
