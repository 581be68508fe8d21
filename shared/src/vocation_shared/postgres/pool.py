"""An asyncpg pool as an async context manager, with JSON codecs and migrations applied on open."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from vocation_shared.postgres.migrations import SHARED_MIGRATIONS, apply_migrations, load_migrations


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name,
            encoder=lambda value: orjson.dumps(value).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


@asynccontextmanager
async def create_pool(
    dsn: str,
    *,
    migrations: Sequence[tuple[str, Path]] = (),
    min_size: int = 1,
    max_size: int = 10,
    **kwargs: Any,
) -> AsyncIterator[asyncpg.Pool]:
    """Open a pool on `dsn`, apply the shared and given `(component, folder)` migrations, close on exit."""
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, **kwargs
    )
    try:
        async with pool.acquire() as conn:
            plan = load_migrations("shared", SHARED_MIGRATIONS)
            for component, folder in migrations:
                plan += load_migrations(component, folder)
            await apply_migrations(conn, plan)
        yield pool
    finally:
        await pool.close()
