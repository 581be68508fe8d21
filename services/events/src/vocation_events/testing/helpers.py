"""Helpers of the integration tests: settings for a test gateway, a gateway process, reading a topic back."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from vocation_shared.testing.process import service_environment, start_service

from vocation_events.core.partners import hash_api_key
from vocation_events.settings import EventsSettings

AddPartner = Callable[..., Awaitable[str]]

TEST_CONTACTS_KEYS = "test1:dGVzdC1jb250YWN0cy1rZXktMzItYnl0ZXMtLS0tLS0="
TEST_PSEUDONYM_KEY = "test-pseudonym-key-of-the-events-tests-0123456789abcdef"
"""The contacts keys of the test gateways (32 bytes, public: tests only)."""


def make_settings(kafka_bootstrap: str, database_url: str, **overrides: object) -> EventsSettings:
    values: dict[str, object] = {
        "kafka_bootstrap": kafka_bootstrap,
        "database_url": database_url,
        "partner_cache_ttl_s": 0,
        "consumer_retry_initial_s": 0.05,
        "consumer_retry_max_s": 0.5,
        "publish_timeout_s": 5,
        "archive_group": f"events-archive-{uuid.uuid4().hex[:8]}",
        "webhooks_enabled": False,
        "webhooks_group": f"events-webhooks-{uuid.uuid4().hex[:8]}",
        "contacts_keys": TEST_CONTACTS_KEYS,
        **overrides,
    }
    return EventsSettings(**values)  # type: ignore[arg-type]


def start_gateway(
    kafka_bootstrap: str, dsn: str, port: int, *, log: Path | None = None, **env: str
) -> subprocess.Popen[bytes]:
    """`python -m vocation_events` on `port`, as an operator runs it (`env`: more `VOCATION_*` settings).

    `log`: where its output goes (stdout and stderr), instead of the test's own.
    """
    output = log.open("wb") if log is not None else None
    try:
        return _popen_gateway(kafka_bootstrap, dsn, port, output, env)
    finally:
        if output is not None:
            output.close()  # the child holds its own copy


def _popen_gateway(
    kafka_bootstrap: str, dsn: str, port: int, output: IO[bytes] | None, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    return start_service(
        "vocation_events",
        service_environment(
            kafka_bootstrap,
            dsn,
            port,
            VOCATION_ARCHIVE_ENABLED="false",
            VOCATION_LOG_LEVEL="WARNING",
            VOCATION_CONTACTS_KEYS=TEST_CONTACTS_KEYS,
            VOCATION_PSEUDONYM_KEY=TEST_PSEUDONYM_KEY,
        )
        | env,
        output,
    )


async def insert_partner(dsn: str, source: str, key: str, name: str = "p") -> None:
    """A partner allowed every partner type, written straight into the gateway's database."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO partners (name, source, allowed_types, key_hash, key_hint) "
            "VALUES ($1, $2, ARRAY['*'], $3, 'k')",
            name,
            source,
            hash_api_key(key),
        )
    finally:
        await conn.close()


async def wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    """Wait until the gateway process at `base` answers ready (60 s at most)."""
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=base, timeout=2) as http:
        while time.monotonic() < deadline:
            assert process.poll() is None, "the gateway exited"
            try:
                if (await http.get("/health/ready")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("gateway not ready")


async def read_topic(bootstrap: str, topic: str, keys: set[bytes]) -> list[ConsumerRecord[bytes, bytes]]:
    """The records of `topic` whose key is in `keys`, from the beginning up to the current end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        found: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + 20
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending and time.monotonic() < deadline:
            batches = await consumer.getmany(*pending, timeout_ms=300)
            for tp, records in batches.items():
                found += [r for r in records if r.key in keys]
                if records and records[-1].offset + 1 >= ends[tp]:
                    pending.discard(tp)
        return found
    finally:
        await consumer.stop()
