"""PostgreSQL: one repository per aggregate, and the unit of work binding them to one transaction."""

from __future__ import annotations

import asyncpg

Pool = asyncpg.Pool
"""The connection pool the unit of work draws on (built by `vocation_shared.postgres.create_pool`)."""

UNAVAILABLE: tuple[type[Exception], ...] = (asyncpg.PostgresError, asyncpg.InterfaceError)
"""The driver's errors that mean the database is down or gone (the worker waits and goes on)."""
