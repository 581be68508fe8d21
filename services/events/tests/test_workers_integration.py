"""Pre-forked gateway workers (`VOCATION_HTTP_WORKERS`) all take connections, not the first one alone."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from vocation_events.testing.helpers import start_gateway, wait_ready
from vocation_local.paths import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONNECTIONS = 16


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
