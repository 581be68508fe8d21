"""Tools for fault and bad-input tests: a platform on its own broker, raw Kafka reads and writes, sinks."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from vocation_local.aio import run_sync
from vocation_local.e2e import SERVICE_MODULES, Platform
from vocation_local.kafka_admin import describe_topics
from vocation_local.paths import free_port, port_accepts
from vocation_local.pg_admin import create_database

MAILBOX_DIR = "mailbox"


@dataclass
class FaultPlatform(Platform):
    """A `Platform` that may run extra instances of a service (e.g. `matching-2` in the same group)."""

    modules: dict[str, str] = field(default_factory=lambda: dict(SERVICE_MODULES))

    @property
    def mail_dir(self) -> Path:
        """Where the mailbox writes each accepted message as an .eml file."""
        return self.log_dir / MAILBOX_DIR

    def start(self, name: str) -> None:
        """(Re)start one service instance with the environment it had."""
        log_file = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", self.modules[name]],
            env=self.environments[name],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )

    def add_instance(self, name: str, like: str) -> None:
        """Start another instance of service `like` (same database and consumer group), as `name`."""
        self.modules[name] = self.modules[like]
        port = free_port()
        self.urls[name] = f"http://127.0.0.1:{port}"
        self.environments[name] = {**self.environments[like], "VOCATION_HTTP_PORT": str(port)}
        self.start(name)

    def kill(self, name: str) -> None:
        """SIGKILL one process, the crash of a container or a machine."""
        self.stop(name, kill=True)

    def restart(self, name: str, timeout: float = 120.0) -> None:
        """Start a stopped service again and wait until it answers ready."""
        self.start(name)
        self.wait_ready(name, timeout)


@contextmanager
def running_platform(
    kafka_bootstrap: str,
    postgres_url: str,
    log_dir: Path,
    *,
    database_prefix: str,
    environment: Mapping[str, str] | None = None,
) -> Iterator[FaultPlatform]:
    """Mailbox (writing .eml files) and the four services on fresh databases; stopped on exit."""
    smtp_port, mailbox_port = free_port(), free_port()
    databases = {
        name: run_sync(create_database(postgres_url, f"{database_prefix}_{name}")) for name in SERVICE_MODULES
    }
    platform = FaultPlatform(
        kafka_bootstrap=kafka_bootstrap,
        databases=databases,
        urls={name: f"http://127.0.0.1:{free_port()}" for name in SERVICE_MODULES},
        mailbox_url=f"http://127.0.0.1:{mailbox_port}",
        smtp_port=smtp_port,
        log_dir=log_dir,
    )
    platform.start_mailbox(mailbox_port, platform.mail_dir)
    for name in SERVICE_MODULES:
        window = {"VOCATION_SMS_WINDOW_START": "00:00", "VOCATION_SMS_WINDOW_END": "23:59"}
        platform.environments[name] = platform.service_environment(name, **{**window, **(environment or {})})
        platform.start(name)
    try:
        deadline = time.monotonic() + 30
        while not port_accepts(smtp_port):
            assert time.monotonic() < deadline, "the mailbox did not start"
            time.sleep(0.1)
        for name in SERVICE_MODULES:
            platform.wait_ready(name, timeout=180)
        yield platform
    finally:
        platform.shutdown()


@dataclass(frozen=True, slots=True)
class Written:
    """Where a raw record landed."""

    topic: str
    partition: int
    offset: int


async def produce_raw(
    bootstrap: str, records: Iterable[tuple[str, bytes | None, bytes | None]]
) -> list[Written]:
    """Write (topic, key, value) records as they are, with a plain producer (acks=all)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        written = []
        for topic, key, value in records:
            meta = await producer.send_and_wait(topic, value, key=key)
            written.append(Written(topic, meta.partition, meta.offset))
        return written
    finally:
        await producer.stop()


async def read_topics(
    bootstrap: str, topics: Iterable[str], within_s: float = 60.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of the topics, from the beginning to the end offsets seen at the start."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    try:
        names = list(topics)
        described = await describe_topics(bootstrap, names)
        partitions = [
            TopicPartition(n, p) for n in names if n in described for p in range(described[n].partitions)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + within_s
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {names} took more than {within_s} s")
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for tp_records in batch.values():
                records.extend(tp_records)
        return records
    finally:
        await consumer.stop()


async def consumer_lag(bootstrap: str, groups: Iterable[str] | None = None) -> dict[str, int]:
    """How many records each consumer group has still to commit, over every topic it committed on."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        names = list(groups) if groups is not None else [g[0] for g in await admin.list_consumer_groups()]
        lag: dict[str, int] = {}
        for group in names:
            committed = await admin.list_consumer_group_offsets(group)
            ends = await consumer.end_offsets(list(committed)) if committed else {}
            lag[group] = sum(max(0, ends[tp] - meta.offset) for tp, meta in committed.items())
        return lag
    finally:
        await consumer.stop()
        await admin.close()


def mailbox_headers(folder: Path) -> list[dict[str, str]]:
    """The headers of every message the mailbox accepted (from its .eml files), in arrival order."""
    if not folder.exists():
        return []
    parser = email.parser.BytesHeaderParser(policy=email.policy.default)
    found = []
    for path in sorted(folder.glob("*.eml")):
        with path.open("rb") as raw:
            headers = parser.parse(raw)
        found.append({k: str(v) for k, v in headers.items()})
    return found


def sms_sent(path: Path) -> list[dict[str, Any]]:
    """Every SMS the sink wrote (JSON lines)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


async def post_batch(
    client: httpx.AsyncClient, url: str, key: str, events: list[dict[str, Any]]
) -> httpx.Response:
    """POST a batch of CloudEvents to the gateway as a partner."""
    return await client.post(
        f"{url}/v1/events/batch",
        content=json.dumps(events),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/cloudevents-batch+json"},
    )


async def wait_for(check: Any, what: str, within_s: float, interval: float = 0.5) -> None:
    """Poll an async or sync predicate until it holds; AssertionError naming `what` otherwise."""
    deadline = time.monotonic() + within_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {within_s} s")
        await asyncio.sleep(interval)


def terminate(process: subprocess.Popen[bytes]) -> None:
    """Stop a child process, politely first."""
    if process.poll() is None:
        process.terminate()
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
    if process.poll() is None:
        process.kill()


__all__ = [
    "FaultPlatform",
    "Written",
    "consumer_lag",
    "mailbox_headers",
    "post_batch",
    "produce_raw",
    "read_topics",
    "running_platform",
    "sms_sent",
    "terminate",
    "wait_for",
]
