"""Writing a read-model row: a version-guarded upsert, times clamped to when it is applied."""

from __future__ import annotations

import asyncpg

from vocation_catalogue.core.projection import Row

KNOWN_TABLES = frozenset({"vacancies", "immersion_slots", "trainings", "establishments", "candidate_supply"})
"""The read-model tables a row or an erasure may name (table names are written into the SQL)."""

CLAMPED_TO_READ_TIME = frozenset({"posted_at", "updated_at"})
"""Columns taken from an event's `time`, never later than when the catalogue applies it.

A partner writing straight to Kafka chooses the `time` of its events (the gateway refuses one
more than 5 minutes ahead, a direct producer is not checked): a vacancy "posted" in 2099 would
stay first of every date-sorted search for years. Clamped, it is as new as its arrival, no newer.
"""


def known_table(table: str) -> str:
    """`table`, once checked to be a read-model table."""
    if table not in KNOWN_TABLES:
        raise ValueError(f"unknown read-model table {table!r}")
    return table


def _placeholder(name: str, n: int) -> str:
    return f"LEAST(${n}::timestamptz, now())" if name in CLAMPED_TO_READ_TIME else f"${n}"


async def upsert(conn: asyncpg.Connection, row: Row) -> bool:
    """Insert or replace a row, unless the stored version is the same or newer; True if written.

    `posted_at` and `updated_at` are clamped to the transaction's time (`CLAMPED_TO_READ_TIME`);
    `posted_at` keeps the earliest one.
    """
    table = known_table(row.table)
    names = ["id", "version", *row.columns]
    values = [row.id, row.version, *row.columns.values()]
    placeholders = ", ".join(_placeholder(name, n) for n, name in enumerate(names, start=1))
    updates = ", ".join(
        f"{name} = LEAST({table}.posted_at, EXCLUDED.posted_at)"
        if name == "posted_at"
        else f"{name} = EXCLUDED.{name}"
        for name in names[1:]
    )
    written = await conn.fetchval(
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({placeholders}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates} "
        f"WHERE {table}.version < EXCLUDED.version RETURNING true",
        *values,
    )
    return bool(written)
