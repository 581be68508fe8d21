"""Gateway ingestion through `POST /v1/events/batch` (acks=all) next to a raw aiokafka producer."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaProducer
from vocation_events.core.partners import hash_api_key, new_api_key
from vocation_events.settings import EventsSettings
from vocation_local.paths import free_port
from vocation_local.pg_admin import create_database
from vocation_shared.testing import samples

from benchmarks.infra import BenchInfra, bench_infra

EVENTS = 60_000
BATCH = 1000
CONCURRENCY = 4
ROUNDS = 2
TOPIC = "vacancies"
EVENT_TYPE = "fr.vocation.vacancy.posted.v1"
SOURCE = "urn:bench:ingestion"
BAR_EVENTS_S = 10_000
BAR_RATIO = 0.5


def _events(run: str, count: int) -> list[dict[str, Any]]:
    """Vacancy events, each about its own vacancy, as a partner would send them."""
    return [
        samples.cloud_event(
            EVENT_TYPE,
            f"vac-{run}-{n}",
            samples.vacancy(id=f"vac-{run}-{n}"),
            id=f"evt-{run}-{n}",
            source=SOURCE,
        )
        for n in range(count)
    ]


async def _raw(bootstrap: str, events: list[dict[str, Any]]) -> float:
    """Events/s of a bare aiokafka producer (acks=all, idempotence, the gateway's batching settings).

    It sends the bytes the gateway would write (with the same headers), `BATCH` at a time with
    `CONCURRENCY` senders, and waits for every acknowledgement.
    """
    defaults = EventsSettings()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        max_batch_size=defaults.producer_max_batch_bytes,
        linger_ms=defaults.producer_linger_ms,
    )
    await producer.start()
    try:
        records = [
            (
                orjson.dumps(e),
                e["subject"].encode(),
                [
                    ("content-type", b"application/cloudevents+json; charset=UTF-8"),
                    ("ce_type", e["type"].encode()),
                    ("ce_id", e["id"].encode()),
                    ("ce_source", e["source"].encode()),
                ],
            )
            for e in events
        ]
        chunks = [records[i : i + BATCH] for i in range(0, len(records), BATCH)]
        queue: asyncio.Queue[list[tuple[bytes, bytes, list[tuple[str, bytes]]]]] = asyncio.Queue()
        for chunk in chunks:
            queue.put_nowait(chunk)

        async def sender() -> None:
            while not queue.empty():
                chunk = queue.get_nowait()
                futures = [await producer.send(TOPIC, v, key=k, headers=h) for v, k, h in chunk]
                await asyncio.gather(*futures)

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(CONCURRENCY)))
        return len(events) / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def _gateway(base_url: str, key: str, events: list[dict[str, Any]]) -> float:
    """Events/s accepted by the gateway, `CONCURRENCY` clients posting batches of `BATCH`."""
    bodies = [orjson.dumps(events[i : i + BATCH]) for i in range(0, len(events), BATCH)]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    accepted = 0
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/cloudevents-batch+json"}
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:

        async def poster() -> None:
            nonlocal accepted
            while not queue.empty():
                body = queue.get_nowait()
                response = await client.post("/v1/events/batch", content=body, headers=headers)
                if response.status_code != 202:
                    raise RuntimeError(f"batch answered {response.status_code}: {response.text[:300]}")
                accepted += int(response.json()["accepted"])

        started = time.perf_counter()
        await asyncio.gather(*(poster() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    if accepted != len(events):
        raise RuntimeError(f"only {accepted} of {len(events)} events accepted")
    return len(events) / elapsed


async def _add_partner(dsn: str) -> str:
    key = new_api_key()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """
            INSERT INTO partners (name, source, allowed_types, key_hash, key_hint, rate_per_s, burst)
            VALUES ('bench', $1, ARRAY['*'], $2, 'bench', 1e9, 1e9)
            ON CONFLICT (name) DO UPDATE SET key_hash = EXCLUDED.key_hash, revoked_at = NULL
            """,
            SOURCE,
            hash_api_key(key),
        )
    finally:
        await conn.close()
    return key


def _start_gateway(infra: BenchInfra, dsn: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "VOCATION_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "VOCATION_DATABASE_URL": dsn,
        "VOCATION_HTTP_HOST": "127.0.0.1",
        "VOCATION_HTTP_PORT": str(port),
        "VOCATION_LOG_LEVEL": "WARNING",
        # The archive consumer can run in its own instances; here only ingestion is measured.
        "VOCATION_ARCHIVE_ENABLED": "false",
        "VOCATION_HTTP_WORKERS": os.environ.get("BENCH_EVENTS_WORKERS", "1"),
    }
    return subprocess.Popen([sys.executable, "-m", "vocation_events"], env=env)


async def _wait_ready(base_url: str, process: subprocess.Popen[bytes], limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the gateway exited with {process.returncode}")
            try:
                if (await client.get("/health/ready")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the gateway did not become ready")


async def _run(infra: BenchInfra) -> dict[str, object]:
    dsn = await create_database(infra.postgres_url, f"bench_events_{uuid.uuid4().hex[:8]}")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    gateway = _start_gateway(infra, dsn, port)
    try:
        await _wait_ready(base_url, gateway)
        key = await _add_partner(dsn)
        # Warm up both paths (connections, metadata, validators' reference data).
        warm = _events("warm-" + uuid.uuid4().hex[:6], 2 * BATCH)
        await _gateway(base_url, key, warm)
        await _raw(infra.kafka_bootstrap, warm)
        gateway_rates, raw_rates = [], []
        for _ in range(ROUNDS):
            events = _events(uuid.uuid4().hex[:8], EVENTS)
            raw_rates.append(await _raw(infra.kafka_bootstrap, events))
            gateway_rates.append(await _gateway(base_url, key, _events(uuid.uuid4().hex[:8], EVENTS)))
    finally:
        gateway.terminate()
        try:
            gateway.wait(15)
        except subprocess.TimeoutExpired:
            gateway.kill()
    best_gateway, best_raw = max(gateway_rates), max(raw_rates)
    ratio = best_gateway / best_raw
    return {
        "events": EVENTS,
        "batch": BATCH,
        "concurrency": CONCURRENCY,
        "raw_events_per_s": round(best_raw),
        "gateway_events_per_s": round(best_gateway),
        "ratio": round(ratio, 2),
        "bar_events_per_s": BAR_EVENTS_S,
        "bar_ratio": BAR_RATIO,
        "meets_bar": best_gateway >= BAR_EVENTS_S and ratio >= BAR_RATIO,
        "rounds_raw": [round(r) for r in raw_rates],
        "rounds_gateway": [round(r) for r in gateway_rates],
    }


def main() -> dict[str, object]:
    """Run the benchmark on the environment's Kafka and PostgreSQL, or on fresh local ones."""
    with bench_infra() as infra:
        figures = asyncio.run(_run(infra))
    print(
        f"events_ingestion: gateway {figures['gateway_events_per_s']} events/s, raw aiokafka "
        f"{figures['raw_events_per_s']} events/s, ratio {figures['ratio']} "
        f"(meets bar: {figures['meets_bar']})",
        flush=True,
    )
    return figures


if __name__ == "__main__":
    main()
