"""Fixtures of the catalogue's tests: a database with the catalogue's migrations applied."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from vocation_catalogue.adapters.postgres.unit_of_work import PostgresUnitsOfWork
from vocation_catalogue.app import open_pool
from vocation_catalogue.ports import UnitsOfWork
from vocation_catalogue.settings import CatalogueSettings
from vocation_catalogue.testing import FakeUnitsOfWork


@pytest.fixture
async def pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a fresh database with the catalogue's migrations applied."""
    settings = CatalogueSettings(database_url=fresh_database, database_pool_size=20)
    async with open_pool(settings) as opened:
        yield opened


@pytest.fixture
def fake_units() -> UnitsOfWork:
    """The in-memory fakes (the contract tests' first run)."""
    return FakeUnitsOfWork()


@pytest.fixture
def postgres_units(pool: asyncpg.Pool) -> UnitsOfWork:
    """PostgreSQL: a fresh database with the catalogue's migrations (the contract tests' second run)."""
    return PostgresUnitsOfWork(pool)
