"""Gateway ingestion through `POST /v1/events/batch` (acks=all) next to a raw aiokafka producer.

Each round runs the raw producer, then the gateway, back to back on fresh events, so that both
see the same load on a shared machine; the figures are the best round of each (the least
disturbed), the median, the slowest, the ratio of each round, and the CPU each side spent per
event (which the other engineers' load on the machine changes far less than the rates).

`BENCH_EVENTS_WORKERS=N` runs the gateway as N pre-forked processes (`VOCATION_HTTP_WORKERS`, how
an operator scales it on one machine); the raw peer then runs N producer processes too, each
sending its share, so that both sides get the same parallelism.

`BENCH_EVENTS_BASELINE=<folder>` also runs a second gateway from another checkout of the code (its
`services/events/src` and `shared/src` first on PYTHONPATH; e.g. `git archive <commit> | tar -x`),
on a database of its own, and alternates the two in every round (baseline then this code, then the
other way round): on a machine shared with other work, only figures taken side by side compare.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaProducer
from vocation_events.core.partners import hash_api_key, new_api_key
from vocation_events.settings import EventsSettings
from vocation_local.paths import free_port
from vocation_local.pg_admin import create_database
from vocation_shared.kafka.headers import cloudevent_headers
from vocation_shared.runtime import tune_for_throughput
from vocation_shared.testing import samples

from benchmarks.infra import BenchInfra, bench_infra

EVENTS = 60_000
BATCH = 1000
CONCURRENCY = 4
ROUNDS = int(os.environ.get("BENCH_EVENTS_ROUNDS", "5"))
WORKERS = int(os.environ.get("BENCH_EVENTS_WORKERS", "1"))
RAW_PROCESSES = int(os.environ.get("BENCH_RAW_PROCESSES", str(WORKERS)))
BASELINE = os.environ.get("BENCH_EVENTS_BASELINE")
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
    started, finished, _ = await _raw_timed(bootstrap, events)
    return len(events) / (finished - started)


async def _raw_timed(
    bootstrap: str, events: list[dict[str, Any]], barrier: Any = None
) -> tuple[float, float, float]:
    """`_raw`'s send, timed on the monotonic clock (shared by the processes of the machine), and
    the CPU seconds this process spent sending.

    With a barrier, the sending starts once every peer process is ready to send.
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
                cloudevent_headers(e["type"], e["id"], e["source"]),
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

        tune_for_throughput()  # as the gateway does: the documents above are not walked again
        if barrier is not None:
            await asyncio.to_thread(barrier.wait)
        cpu = time.process_time()
        started = time.monotonic()
        await asyncio.gather(*(sender() for _ in range(CONCURRENCY)))
        return started, time.monotonic(), time.process_time() - cpu
    finally:
        gc.unfreeze()
        await producer.stop()


def _raw_process(
    bootstrap: str, run: str, first: int, count: int, barrier: Any
) -> tuple[float, float, float]:
    """One raw peer process: its share of the events; (start, end, CPU seconds of the sending)."""
    events = _events(run, first + count)[first:]
    return asyncio.run(_raw_timed(bootstrap, events, barrier))


def _raw_parallel(
    bootstrap: str, events: list[dict[str, Any]], run: str, pool: ProcessPoolExecutor
) -> tuple[float, float]:
    """Events/s and CPU µs per event of `RAW_PROCESSES` raw producer processes sharing the events."""
    share = len(events) // RAW_PROCESSES
    barrier = multiprocessing.Manager().Barrier(RAW_PROCESSES)
    futures = [
        pool.submit(
            _raw_process,
            bootstrap,
            run,
            i * share,
            share if i < RAW_PROCESSES - 1 else len(events) - i * share,
            barrier,
        )
        for i in range(RAW_PROCESSES)
    ]
    results = [f.result() for f in futures]
    elapsed = max(r[1] for r in results) - min(r[0] for r in results)
    return len(events) / elapsed, sum(r[2] for r in results) * 1e6 / len(events)


async def _gateway(base_url: str, key: str, events: list[dict[str, Any]]) -> float:
    """Events/s accepted by the gateway, `CONCURRENCY` clients per gateway process posting batches of `BATCH`."""
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
        await asyncio.gather(*(poster() for _ in range(CONCURRENCY * WORKERS)))
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


def _start_gateway(
    infra: BenchInfra, dsn: str, port: int, code: str | None = None
) -> subprocess.Popen[bytes]:
    """The gateway of this checkout, or of the checkout in the folder `code`."""
    env = {
        **os.environ,
        "VOCATION_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "VOCATION_DATABASE_URL": dsn,
        "VOCATION_HTTP_HOST": "127.0.0.1",
        "VOCATION_HTTP_PORT": str(port),
        "VOCATION_LOG_LEVEL": "WARNING",
        "VOCATION_DEV_MODE": "true",  # no contacts keys needed: the archive is off
        # The archive and webhook consumers can run in their own instances; only ingestion is measured.
        "VOCATION_ARCHIVE_ENABLED": "false",
        "VOCATION_WEBHOOKS_ENABLED": "false",
        "VOCATION_HTTP_WORKERS": str(WORKERS),
    }
    if code is not None:
        paths = [os.path.join(code, "services", "events", "src"), os.path.join(code, "shared", "src")]
        env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
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


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its children still running (pre-forked workers)."""
    total = 0.0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            with open(f"/proc/{current}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            with open(f"/proc/{current}/task/{current}/children") as children:
                pids.extend(int(child) for child in children.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def _spread(values: list[float]) -> dict[str, float]:
    return {"best": round(max(values)), "median": round(statistics.median(values)), "min": round(min(values))}


async def _run(infra: BenchInfra) -> dict[str, object]:
    dsn = await create_database(infra.postgres_url, f"bench_events_{uuid.uuid4().hex[:8]}")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    gateway = _start_gateway(infra, dsn, port)
    pool = (
        ProcessPoolExecutor(RAW_PROCESSES, mp_context=multiprocessing.get_context("spawn"))
        if RAW_PROCESSES > 1
        else None
    )
    try:
        await _wait_ready(base_url, gateway)
        key = await _add_partner(dsn)
        # Warm up both paths (connections, metadata, validators' reference data).
        warm = _events("warm-" + uuid.uuid4().hex[:6], 2 * BATCH)
        await _gateway(base_url, key, warm)
        await _raw(infra.kafka_bootstrap, warm)
        gateway_rates: list[float] = []
        raw_rates: list[float] = []
        gateway_cpu: list[float] = []
        raw_cpu: list[float] = []
        for _ in range(ROUNDS):
            run = uuid.uuid4().hex[:8]
            events = _events(run, EVENTS)
            if pool is None:
                started, finished, cpu_s = await _raw_timed(infra.kafka_bootstrap, events)
                raw_rates.append(EVENTS / (finished - started))
                raw_cpu.append(cpu_s * 1e6 / EVENTS)
            else:
                rate, cpu_per_event = await asyncio.to_thread(
                    _raw_parallel, infra.kafka_bootstrap, events, run, pool
                )
                raw_rates.append(rate)
                raw_cpu.append(cpu_per_event)
            events = _events(uuid.uuid4().hex[:8], EVENTS)
            cpu = _cpu_seconds(gateway.pid)
            gateway_rates.append(await _gateway(base_url, key, events))
            gateway_cpu.append((_cpu_seconds(gateway.pid) - cpu) * 1e6 / EVENTS)
    finally:
        if pool is not None:
            pool.shutdown()
        gateway.terminate()
        try:
            gateway.wait(15)
        except subprocess.TimeoutExpired:
            gateway.kill()
    best_gateway, best_raw = max(gateway_rates), max(raw_rates)
    ratio = best_gateway / best_raw
    round_ratios = [g / r for g, r in zip(gateway_rates, raw_rates, strict=True)]
    return {
        "events": EVENTS,
        "batch": BATCH,
        "concurrency_per_process": CONCURRENCY,
        "gateway_processes": WORKERS,
        "raw_producer_processes": RAW_PROCESSES,
        "rounds": ROUNDS,
        "raw_events_per_s": round(best_raw),
        "gateway_events_per_s": round(best_gateway),
        "ratio": round(ratio, 2),
        "ratio_median_of_rounds": round(statistics.median(round_ratios), 2),
        "bar_events_per_s": BAR_EVENTS_S,
        "bar_ratio": BAR_RATIO,
        "meets_bar": best_gateway >= BAR_EVENTS_S and ratio >= BAR_RATIO,
        "raw_spread": _spread(raw_rates),
        "gateway_spread": _spread(gateway_rates),
        "rounds_raw": [round(r) for r in raw_rates],
        "rounds_gateway": [round(r) for r in gateway_rates],
        "rounds_ratio": [round(r, 2) for r in round_ratios],
        "gateway_cpu_us_per_event": round(statistics.median(gateway_cpu), 1),
        "raw_cpu_us_per_event": round(statistics.median(raw_cpu), 1),
        "load_average_1m": round(os.getloadavg()[0], 1),
    }


async def _run_ab(infra: BenchInfra, baseline: str) -> dict[str, object]:
    """This code's gateway and the baseline's, alternated round by round (the raw peer before each pair)."""
    gateways: dict[str, tuple[subprocess.Popen[bytes], str, str]] = {}
    try:
        for name, code in (("baseline", baseline), ("this", None)):
            dsn = await create_database(infra.postgres_url, f"bench_events_{uuid.uuid4().hex[:8]}")
            port = free_port()
            process = _start_gateway(infra, dsn, port, code)
            gateways[name] = (process, f"http://127.0.0.1:{port}", "")
            await _wait_ready(gateways[name][1], process)
            gateways[name] = (process, gateways[name][1], await _add_partner(dsn))
        rates: dict[str, list[float]] = {"baseline": [], "this": [], "raw": []}
        cpu: dict[str, list[float]] = {"baseline": [], "this": [], "raw": []}
        for _process, base_url, key in gateways.values():
            await _gateway(base_url, key, _events("warm-" + uuid.uuid4().hex[:6], 4 * BATCH))
        for n in range(ROUNDS):
            started, finished, cpu_s = await _raw_timed(
                infra.kafka_bootstrap, _events(uuid.uuid4().hex[:8], EVENTS)
            )
            rates["raw"].append(EVENTS / (finished - started))
            cpu["raw"].append(cpu_s * 1e6 / EVENTS)
            for name in ("baseline", "this") if n % 2 == 0 else ("this", "baseline"):
                process, base_url, key = gateways[name]
                events = _events(uuid.uuid4().hex[:8], EVENTS)
                before = _cpu_seconds(process.pid)
                rates[name].append(await _gateway(base_url, key, events))
                cpu[name].append((_cpu_seconds(process.pid) - before) * 1e6 / EVENTS)
            print(
                f"round {n + 1}: baseline {rates['baseline'][-1]:.0f}/s, this {rates['this'][-1]:.0f}/s, "
                f"raw {rates['raw'][-1]:.0f}/s",
                flush=True,
            )
    finally:
        for process, _url, _key in gateways.values():
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
    relative = [t / b for t, b in zip(rates["this"], rates["baseline"], strict=True)]
    return {
        "events": EVENTS,
        "batch": BATCH,
        "concurrency_per_process": CONCURRENCY,
        "gateway_processes": WORKERS,
        "rounds": ROUNDS,
        "order": "baseline then this code in odd rounds, the other way round in even ones",
        "baseline": baseline,
        "rounds_baseline": [round(r) for r in rates["baseline"]],
        "rounds_this": [round(r) for r in rates["this"]],
        "rounds_raw": [round(r) for r in rates["raw"]],
        "rounds_relative": [round(r, 2) for r in relative],
        "baseline_spread": _spread(rates["baseline"]),
        "this_spread": _spread(rates["this"]),
        "raw_spread": _spread(rates["raw"]),
        "relative_median": round(statistics.median(relative), 2),
        "cpu_us_per_event_median": {k: round(statistics.median(v), 1) for k, v in cpu.items()},
        "rounds_cpu_us_per_event": {k: [round(x, 1) for x in v] for k, v in cpu.items()},
        "bar_events_per_s": BAR_EVENTS_S,
        "load_average_1m": round(os.getloadavg()[0], 1),
    }


def main() -> dict[str, object]:
    """Run the benchmark on the environment's Kafka and PostgreSQL, or on fresh local ones."""
    with bench_infra() as infra:
        if BASELINE:
            figures = asyncio.run(_run_ab(infra, BASELINE))
            print(f"events_ingestion A/B: {orjson.dumps(figures).decode()}", flush=True)
            return figures
        figures = asyncio.run(_run(infra))
    print(
        f"events_ingestion: gateway {figures['gateway_events_per_s']} events/s, raw aiokafka "
        f"{figures['raw_events_per_s']} events/s, ratio {figures['ratio']} (median of rounds "
        f"{figures['ratio_median_of_rounds']}; {WORKERS} gateway and {RAW_PROCESSES} raw process(es); "
        f"meets bar: {figures['meets_bar']})",
        flush=True,
    )
    return figures


if __name__ == "__main__":
    main()
