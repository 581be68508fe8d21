"""Consumer pipeline (validate + idempotent store) next to a raw aiokafka consumer doing the same store."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from vocation_local.pg_admin import create_database
from vocation_shared.contracts import AnyEvent
from vocation_shared.kafka import DeadLetterPublisher, EventConsumer, make_broker
from vocation_shared.postgres import create_pool
from vocation_shared.postgres.idempotency import mark_many_processed
from vocation_shared.runtime import tune_for_throughput
from vocation_shared.testing import samples

from benchmarks.infra import BenchInfra, bench_infra

EVENTS = 50_000
ROUNDS = 2
TOPIC = "vacancies"
BAR_RATIO = 0.7

STORE_SQL = """
INSERT INTO bench_effects (consumer, event_id, vacancy_id, version, title)
SELECT $1, e.event_id, e.vacancy_id, e.version, e.title
FROM unnest($2::text[], $3::text[], $4::int[], $5::text[]) AS e(event_id, vacancy_id, version, title)
"""


async def _store(pool: asyncpg.Pool, consumer: str, rows: list[tuple[str, str, str, int, str]]) -> None:
    """The same idempotent store for both: processed ids and effects in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        new = await mark_many_processed(conn, consumer, [(r[0], r[1]) for r in rows])
        fresh = [r for r in rows if (r[0], r[1]) in new]
        await conn.execute(
            STORE_SQL,
            consumer,
            [r[1] for r in fresh],
            [r[2] for r in fresh],
            [r[3] for r in fresh],
            [r[4] for r in fresh],
        )


async def _produce(bootstrap: str, run: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = []
        for n in range(EVENTS):
            vacancy_id = f"vac-{run}-{n}"
            event = samples.cloud_event(
                "fr.vocation.vacancy.posted.v1",
                vacancy_id,
                samples.vacancy(id=vacancy_id),
                id=f"evt-{run}-{n}",
            )
            futures.append(await producer.send(TOPIC, orjson.dumps(event), key=vacancy_id.encode()))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _count(pool: asyncpg.Pool, consumer: str) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM bench_effects WHERE consumer = $1", consumer))


async def _raw(infra: BenchInfra, pool: asyncpg.Pool, name: str) -> float:
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=infra.kafka_bootstrap,
        group_id=name,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=500,
    )
    await consumer.start()
    done, first = 0, 0.0
    try:
        while done < EVENTS:
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            for records in batches.values():
                if not first:
                    first = time.perf_counter()
                rows = []
                for record in records:
                    document: dict[str, Any] = orjson.loads(record.value or b"{}")
                    data = document["data"]
                    rows.append(
                        (document["source"], document["id"], data["id"], int(data["version"]), data["title"])
                    )
                await _store(pool, name, rows)
                done += len(rows)
            await consumer.commit()
        elapsed = time.perf_counter() - first
        assert await _count(pool, name) == EVENTS
        return elapsed
    finally:
        await consumer.stop()


async def _pipeline(infra: BenchInfra, pool: asyncpg.Pool, name: str) -> float:
    first = 0.0
    stored = 0
    finished = asyncio.Event()

    async def handle_batch(events: list[AnyEvent]) -> None:
        nonlocal first, stored
        if not first:
            first = time.perf_counter()
        rows = [(e.source, e.id, e.data.id, e.data.version, e.data.title) for e in events]
        await _store(pool, name, rows)
        stored += len(rows)
        if stored >= EVENTS:
            finished.set()

    broker = make_broker(infra.kafka_bootstrap, client_id=name)
    EventConsumer(broker, DeadLetterPublisher(broker, name)).subscribe_batch(
        TOPIC, group_id=name, handle_batch=handle_batch, max_records=500
    )
    await broker.start()
    try:
        await finished.wait()
        elapsed = time.perf_counter() - first
        assert await _count(pool, name) == EVENTS
        return elapsed
    finally:
        await broker.stop()


async def _run(infra: BenchInfra) -> dict[str, object]:
    dsn = await create_database(infra.postgres_url, "bench_pipeline")
    run = uuid.uuid4().hex[:6]
    async with create_pool(dsn, max_size=4) as pool:
        await pool.execute(
            "CREATE TABLE IF NOT EXISTS bench_effects (consumer text, event_id text, vacancy_id text, version int, title text)"
        )
        await _produce(infra.kafka_bootstrap, run)
        raw_rates, pipeline_rates = [], []
        for round_ in range(ROUNDS):
            raw_rates.append(EVENTS / await _raw(infra, pool, f"raw-{run}-{round_}"))
            pipeline_rates.append(EVENTS / await _pipeline(infra, pool, f"pipeline-{run}-{round_}"))
    raw, pipeline = max(raw_rates), max(pipeline_rates)
    return {
        "events": EVENTS,
        "raw_events_per_s": round(raw),
        "pipeline_events_per_s": round(pipeline),
        "ratio": round(pipeline / raw, 2),
        "bar_ratio": BAR_RATIO,
        "meets_bar": pipeline / raw >= BAR_RATIO,
        "rounds_raw": [round(r) for r in raw_rates],
        "rounds_pipeline": [round(r) for r in pipeline_rates],
    }


def main() -> dict[str, object]:
    """Run the comparison on fresh infrastructure and return the figures.

    The process is tuned as every service tunes itself at start (`tune_for_throughput`);
    the raw consumer runs in the same process and benefits just as much.
    """
    tune_for_throughput()
    with bench_infra() as infra:
        return asyncio.run(_run(infra))


if __name__ == "__main__":
    print(main())
