"""The gateway killed (SIGKILL) in the middle of batches loses no event it accepted."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from typing import Any

import httpx
import orjson
import pytest
from vocation_events.testing.helpers import insert_partner, read_topic, start_gateway, wait_ready
from vocation_local.paths import free_port
from vocation_shared.testing import samples

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEY = "vk_restart-test-key"
HEADERS = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/cloudevents-batch+json"}


def batch(run: str, first: int, size: int) -> list[dict[str, Any]]:
    return [
        samples.cloud_event(
            "fr.vocation.vacancy.posted.v1",
            f"vac-{run}-{n}",
            samples.vacancy(id=f"vac-{run}-{n}"),
            id=f"evt-{run}-{n}",
        )
        for n in range(first, first + size)
    ]


async def send_all(base: str, batches: list[list[dict[str, Any]]], answered: dict[str, str]) -> None:
    """Post every batch (two at a time), recording each event's answer; stops at the first failure."""
    queue = list(batches)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:

        async def worker() -> None:
            while queue:
                body = queue.pop(0)
                response = await http.post("/v1/events/batch", content=orjson.dumps(body), headers=HEADERS)
                assert response.status_code == 202, response.text
                for result in response.json()["results"]:
                    answered[result["id"]] = result["status"]

        await asyncio.gather(worker(), worker())


async def test_a_gateway_killed_mid_batch_loses_no_accepted_event(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    run = uuid.uuid4().hex[:10]
    batches = [batch(run, n * 200, 200) for n in range(15)]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gateway = start_gateway(kafka_bootstrap, fresh_database, port)
    try:
        await wait_ready(base, gateway)
        await insert_partner(fresh_database, "urn:partner:test", KEY)
        first_run: dict[str, str] = {}
        sending = asyncio.create_task(send_all(base, batches, first_run))
        while len(first_run) < 400:  # some batches are answered, others are in flight
            await asyncio.sleep(0.005)
        os.kill(gateway.pid, signal.SIGKILL)
        with pytest.raises((httpx.HTTPError, AssertionError)):
            await sending
        gateway.wait()
    finally:
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait()
    accepted_before = {i for i, s in first_run.items() if s == "accepted"}
    assert 400 <= len(accepted_before) < 3000

    # The partner sends everything again to a restarted gateway.
    gateway = start_gateway(kafka_bootstrap, fresh_database, port)
    try:
        await wait_ready(base, gateway)
        second_run: dict[str, str] = {}
        await send_all(base, batches, second_run)
    finally:
        gateway.terminate()
        gateway.wait(20)
    assert set(second_run.values()) <= {"accepted", "duplicate"}
    assert all(second_run[i] == "duplicate" for i in accepted_before)

    records = await read_topic(kafka_bootstrap, "vacancies", {f"vac-{run}-{n}".encode() for n in range(3000)})
    on_kafka = {orjson.loads(r.value or b"")["id"] for r in records}
    assert accepted_before <= on_kafka
    assert on_kafka == {f"evt-{run}-{n}" for n in range(3000)}
