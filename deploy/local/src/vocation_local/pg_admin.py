"""Databases on a PostgreSQL server, through asyncpg: create (idempotently), drop, derive DSNs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from urllib.parse import quote, urlsplit

import asyncpg

SERVICE_DATABASES = ("events", "catalogue", "matching", "notifications")
CONNECT_TIMEOUT_S = 10.0


def database_dsn(server_dsn: str, name: str) -> str:
    """`server_dsn` pointing at database `name` instead (same host, port, user, options)."""
    return urlsplit(server_dsn)._replace(path="/" + quote(name, safe="")).geturl()


def _identifier(name: str) -> str:
    if not name or "\x00" in name:
        raise ValueError(f"invalid database name: {name!r}")
    return '"' + name.replace('"', '""') + '"'


async def create_database(server_dsn: str, name: str) -> str:
    """Create database `name` unless it exists; return its DSN. `server_dsn`: any database there."""
    connection = await asyncpg.connect(server_dsn, timeout=CONNECT_TIMEOUT_S)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # A concurrent creation is fine.
            with contextlib.suppress(asyncpg.exceptions.DuplicateDatabaseError):
                await connection.execute(f"CREATE DATABASE {_identifier(name)}")
    finally:
        await connection.close()
    return database_dsn(server_dsn, name)


async def drop_database(server_dsn: str, name: str) -> None:
    """Drop database `name` if it exists, disconnecting its sessions."""
    connection = await asyncpg.connect(server_dsn, timeout=CONNECT_TIMEOUT_S)
    try:
        await connection.execute(f"DROP DATABASE IF EXISTS {_identifier(name)} WITH (FORCE)")
    finally:
        await connection.close()


async def ensure_service_databases(
    server_dsn: str, names: Iterable[str] = SERVICE_DATABASES
) -> dict[str, str]:
    """Create one database per service (events, catalogue, matching, notifications); name → DSN."""
    return {name: await create_database(server_dsn, name) for name in names}
