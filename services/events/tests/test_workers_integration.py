"""Supervised gateway workers (`VOCATION_HTTP_WORKERS`): all take connections, one killed is replaced, SIGTERM stops them cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import orjson
import pytest
from vocation_events.testing.helpers import (
    insert_partner,
    read_topic,
    start_gateway,
    wait_ready,
)
from vocation_local.paths import free_port
from vocation_shared.testing import samples

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONNECTIONS = 16
KEY = "vk_workers-test-key"


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _established_on(port: int) -> set[str]:
    """Socket inodes of the connections accepted on `port` (IPv4, state ESTABLISHED)."""
    inodes: set[str] = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port and fields[3] == "01":
            inodes.add(fields[9])
    return inodes


def _sockets_of(pid: int) -> set[str]:
    found: set[str] = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[len("socket:[") : -1])
    return found


async def test_every_worker_takes_its_share_of_the_connections(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gateway = start_gateway(
        kafka_bootstrap,
        fresh_database,
        port,
        VOCATION_HTTP_WORKERS="2",
        VOCATION_WEBHOOKS_ENABLED="false",
    )
    clients = [httpx.AsyncClient(base_url=base, timeout=10) for _ in range(CONNECTIONS)]
    try:
        await wait_ready(base, gateway)
        # Both workers listen once both answer; a burst of new connections, kept open.
        for _ in range(50):
            if len(_children(gateway.pid)) == 2:
                break
            await asyncio.sleep(0.1)
        answers = await asyncio.gather(*(c.get("/health/live") for c in clients))
        assert {a.status_code for a in answers} == {200}

        accepted = _established_on(port)
        per_worker = {pid: len(_sockets_of(pid) & accepted) for pid in _children(gateway.pid)}
        assert len(per_worker) == 2
        assert sum(per_worker.values()) == CONNECTIONS
        assert all(n > 0 for n in per_worker.values()), f"one worker took every connection: {per_worker}"
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(20)
        except subprocess.TimeoutExpired:
            gateway.kill()
            gateway.wait()


def _start_logged(
    kafka_bootstrap: str, dsn: str, port: int, log: Path, **env: str
) -> subprocess.Popen[bytes]:
    """`python -m vocation_events` with two workers, archiving, its INFO log lines written to `log`."""
    return start_gateway(
        kafka_bootstrap,
        dsn,
        port,
        log=log,
        VOCATION_ARCHIVE_ENABLED="true",
        VOCATION_HTTP_WORKERS="2",
        VOCATION_LOG_LEVEL="INFO",
        VOCATION_WEBHOOKS_ENABLED="false",
        VOCATION_ARCHIVE_GROUP=f"events-archive-{uuid.uuid4().hex[:8]}",
        **env,
    )


async def _two_workers(gateway: subprocess.Popen[bytes], base: str) -> list[int]:
    await wait_ready(base, gateway)
    for _ in range(100):
        if len(_children(gateway.pid)) == 2:
            return _children(gateway.pid)
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected two workers, found {_children(gateway.pid)}")


async def test_a_worker_killed_is_replaced_and_the_port_keeps_answering(
    kafka_bootstrap: str, fresh_database: str, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gateway = _start_logged(kafka_bootstrap, fresh_database, port, tmp_path / "gateway.log")
    try:
        before = await _two_workers(gateway, base)
        os.kill(before[1], signal.SIGKILL)
        for _ in range(20):  # new connections go to the worker still alive, then to both
            async with httpx.AsyncClient(base_url=base, timeout=5) as client:
                assert (await client.get("/health/live")).status_code == 200
            await asyncio.sleep(0.05)
        for _ in range(100):
            now = _children(gateway.pid)
            if len(now) == 2 and before[1] not in now:
                break
            await asyncio.sleep(0.1)
        now = _children(gateway.pid)
        assert before[0] in now and before[1] not in now and len(now) == 2, (before, now)
        assert gateway.poll() is None
    finally:
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(30)
        except subprocess.TimeoutExpired:
            gateway.kill()
            gateway.wait()
    log = (tmp_path / "gateway.log").read_text()
    assert "http.worker_died" in log


async def test_sigterm_stops_every_worker_after_closing_its_consumer_and_producer(
    kafka_bootstrap: str, fresh_database: str, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gateway = _start_logged(kafka_bootstrap, fresh_database, port, tmp_path / "gateway.log")
    run = uuid.uuid4().hex[:10]
    try:
        await _two_workers(gateway, base)
        await insert_partner(fresh_database, "urn:partner:stop-test", KEY)
        events = [
            samples.cloud_event(
                "fr.vocation.vacancy.posted.v1",
                f"vac-{run}-{n}",
                samples.vacancy(id=f"vac-{run}-{n}"),
                id=f"evt-{run}-{n}",
                source="urn:partner:stop-test",
            )
            for n in range(50)
        ]
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            answer = await client.post(
                "/v1/events/batch",
                content=orjson.dumps(events),
                headers={
                    "Authorization": f"Bearer {KEY}",
                    "Content-Type": "application/cloudevents-batch+json",
                },
            )
        assert answer.status_code == 202, answer.text
        assert answer.json()["accepted"] == 50
        started = time.monotonic()
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(30) == 0
        assert time.monotonic() - started < 20
    finally:
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait()
    log = (tmp_path / "gateway.log").read_text()
    # Logged by each worker once `running_service` closed the archive's consumer, the producer and the pool.
    assert log.count("events.stopped") == 2, log[-3000:]
    records = await read_topic(kafka_bootstrap, "vacancies", {f"vac-{run}-{n}".encode() for n in range(50)})
    assert len({r.key for r in records}) == 50
