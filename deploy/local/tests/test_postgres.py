"""Integration tests of PostgreSQL: the session server over TCP, databases, and restarts."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from vocation_local.paths import free_port
from vocation_local.postgres import (
    FAST_SETTINGS,
    SERVICE_DATABASES,
    PostgresServer,
    create_database,
    drop_database,
    ensure_service_databases,
)
from vocation_local.testing import DatabaseFactory

pytestmark = pytest.mark.integration


async def test_accepts_asyncpg_over_tcp(postgres_url: str) -> None:
    connection = await asyncpg.connect(postgres_url)
    try:
        assert await connection.fetchval("SELECT 1") == 1
        version = await connection.fetchval("SHOW server_version_num")
    finally:
        await connection.close()
    assert int(version) >= 180000


async def test_local_server_listens_on_127_0_0_1(
    postgres_url: str, postgres_server: PostgresServer | None
) -> None:
    if postgres_server is None:
        pytest.skip("PostgreSQL is not run locally in this session")
    assert postgres_url.startswith("postgresql://postgres@127.0.0.1:")
    connection = await asyncpg.connect(postgres_url)
    try:
        assert str(await connection.fetchval("SELECT inet_server_addr()")) == "127.0.0.1"
    finally:
        await connection.close()


async def test_create_database_is_idempotent(postgres_url: str) -> None:
    name = f"idem_{uuid.uuid4().hex[:8]}"
    first = await create_database(postgres_url, name)
    second = await create_database(postgres_url, name)
    assert first == second
    assert first.rsplit("/", 1)[1].startswith(name)
    connection = await asyncpg.connect(first)
    try:
        assert await connection.fetchval("SELECT current_database()") == name
    finally:
        await connection.close()
    await drop_database(postgres_url, name)


async def test_service_databases(postgres_url: str) -> None:
    dsns = await ensure_service_databases(postgres_url)
    assert set(dsns) == set(SERVICE_DATABASES) == {"events", "catalogue", "matching", "notifications"}
    assert await ensure_service_databases(postgres_url) == dsns


async def test_fresh_databases_are_empty_and_distinct(
    fresh_database: str, make_database: DatabaseFactory
) -> None:
    other = make_database("other")
    assert other != fresh_database
    connection = await asyncpg.connect(fresh_database)
    try:
        count = await connection.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
    finally:
        await connection.close()
    assert count == 0


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data folder the server's account can reach (pytest's tmp_path is 0700)."""
    parent = Path(tempfile.mkdtemp(prefix="vocation-pg-test-"))
    yield parent / "data"
    PostgresServer(parent / "data").stop()
    shutil.rmtree(parent, ignore_errors=True)


async def _count_rows(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        count: int = await connection.fetchval("SELECT count(*) FROM kept")
    finally:
        await connection.close()
    return count


async def test_stop_start_and_kill_keep_data(data_dir: Path) -> None:
    server = PostgresServer(data_dir, free_port(), settings=FAST_SETTINGS)
    await asyncio.to_thread(server.start)
    dsn = await server.create_database("events")
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('x')")
    finally:
        await connection.close()

    await asyncio.to_thread(server.stop)
    assert not server.is_running()
    again = PostgresServer(data_dir, server.port)  # a fresh handle, as from another process
    await asyncio.to_thread(again.start)
    assert await _count_rows(dsn) == 1

    adopted = PostgresServer(data_dir, free_port())  # a running server is reused, not restarted
    await asyncio.to_thread(adopted.start)
    assert (adopted.port, adopted.pid()) == (again.port, again.pid())

    await asyncio.to_thread(again.kill)
    assert not again.is_running()
    await asyncio.to_thread(again.start)
    assert await _count_rows(dsn) == 1
    await asyncio.to_thread(again.stop)
