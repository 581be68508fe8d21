"""A service's health routes seen from a test: waiting for its process to answer, probing its ASGI app."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import httpx


def wait_answering(process: subprocess.Popen[bytes], url: str, timeout: float = 60.0) -> None:
    """Return once `url` answers 200; fail as soon as `process` exits, or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert process.poll() is None, "the service died at start"
        assert time.monotonic() < deadline, "the service did not answer in time"
        time.sleep(0.2)


async def live_ready_metrics(app: Any) -> str:
    """Check that the ASGI `app` answers live and ready (200); its `/metrics` page."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        assert (await client.get("/health/live")).status_code == 200
        ready = await client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        return (await client.get("/metrics")).text
