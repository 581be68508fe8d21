"""What every operator command shares: the database, the Kafka sink, running a coroutine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

import asyncpg
import typer
from pydantic_settings import BaseSettings, SettingsConfigDict
from vocation_shared.postgres import create_pool

from vocation_events.adapters.archive_store import pseudonymize_erasures
from vocation_events.adapters.kafka import KafkaSink, ProducerFactory
from vocation_events.app import MIGRATIONS
from vocation_events.settings import EventsSettings

T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    """Run a command's coroutine to its end (a command is synchronous for Typer)."""

    async def wrapper() -> T:
        return await coro

    return asyncio.run(wrapper())


class _LibpqDefaults(BaseSettings):
    """libpq's `PGHOST` and `PGPORT`, which asyncpg uses where a DSN names no host or port."""

    model_config = SettingsConfigDict(env_prefix="PG", extra="ignore", env_file=None)

    host: str = "localhost"
    port: int = 5432


def describe_database(dsn: str) -> str:
    """Where a DSN points, as `host:port/dbname` (never its user's password)."""
    parts = urlsplit(dsn)
    query = parse_qs(parts.query)
    libpq = _LibpqDefaults()
    host = parts.hostname or query.get("host", [libpq.host])[0]
    port = parts.port or int(query.get("port", [str(libpq.port)])[0])
    name = parts.path.lstrip("/") or query.get("dbname", [parts.username or "postgres"])[0]
    return f"{host}:{port}/{name}"


@asynccontextmanager
async def open_pool(settings: EventsSettings) -> AsyncIterator[asyncpg.Pool]:
    """The events database (`VOCATION_DATABASE_URL`, else the service's default), said on stderr."""
    typer.echo(f"events database: {describe_database(settings.database_url)}", err=True)
    async with create_pool(settings.database_url, migrations=[("events", MIGRATIONS)], max_size=2) as pool:
        await pseudonymize_erasures(pool, settings.pseudonymizer())
        yield pool


@asynccontextmanager
async def open_sink(settings: EventsSettings) -> AsyncIterator[KafkaSink]:
    sink = KafkaSink(
        ProducerFactory(settings.kafka_bootstrap, "events-cli", settings.producer_max_batch_bytes, 5),
        settings.publish_timeout_s,
    )
    try:
        yield sink
    finally:
        await sink.stop()


# --- partners ---------------------------------------------------------------------------------
