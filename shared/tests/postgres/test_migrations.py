"""Plain-SQL migrations against a real PostgreSQL: applied once, in order, and never silently edited."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from vocation_shared.postgres import create_pool, load_migrations
from vocation_shared.postgres.migrations import MigrationError, apply_migrations

pytestmark = pytest.mark.integration


def _write(folder: Path, name: str, sql: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(sql, encoding="utf-8")


async def test_migrations_are_applied_once_and_recorded(tmp_path: Path, fresh_database: str) -> None:
    _write(tmp_path, "0001_people.sql", "CREATE TABLE people (id int PRIMARY KEY);")
    _write(tmp_path, "0002_name.sql", "ALTER TABLE people ADD COLUMN name text;")
    async with create_pool(fresh_database, migrations=[("demo", tmp_path)]) as pool:
        await pool.execute("INSERT INTO people (id, name) VALUES (1, 'Léa')")
    async with create_pool(fresh_database, migrations=[("demo", tmp_path)]) as pool:
        rows = await pool.fetch(
            "SELECT component, version FROM schema_migrations ORDER BY component, version"
        )
        assert [(r["component"], r["version"]) for r in rows] == [("demo", 1), ("demo", 2), ("shared", 1)]
        assert await pool.fetchval("SELECT name FROM people WHERE id = 1") == "Léa"


async def test_an_applied_migration_that_was_edited_stops_the_start(
    tmp_path: Path, fresh_database: str
) -> None:
    _write(tmp_path, "0001_people.sql", "CREATE TABLE people (id int PRIMARY KEY);")
    async with create_pool(fresh_database, migrations=[("demo", tmp_path)]):
        pass
    _write(tmp_path, "0001_people.sql", "CREATE TABLE people (id bigint PRIMARY KEY);")
    with pytest.raises(MigrationError, match="was changed after it was applied"):
        async with create_pool(fresh_database, migrations=[("demo", tmp_path)]):
            pass


def test_a_missing_migration_number_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "0001_a.sql", "SELECT 1;")
    _write(tmp_path, "0003_c.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match="0002 is missing"):
        load_migrations("demo", tmp_path)


async def test_a_failing_migration_leaves_nothing_half_applied(tmp_path: Path, fresh_database: str) -> None:
    _write(tmp_path, "0001_ok.sql", "CREATE TABLE ok (id int);")
    _write(tmp_path, "0002_broken.sql", "CREATE TABLE half (id int); SELECT no_such_function();")
    with pytest.raises(asyncpg.UndefinedFunctionError):
        async with create_pool(fresh_database, migrations=[("demo", tmp_path)]):
            pass
    conn = await asyncpg.connect(fresh_database)
    try:
        assert await conn.fetchval("SELECT to_regclass('half')") is None
        assert await conn.fetchval("SELECT max(version) FROM schema_migrations WHERE component = 'demo'") == 1
    finally:
        await conn.close()


async def test_instances_starting_together_apply_each_migration_once(
    tmp_path: Path, fresh_database: str
) -> None:
    _write(tmp_path, "0001_counter.sql", "CREATE TABLE counter (n int); INSERT INTO counter VALUES (1);")
    plan = load_migrations("demo", tmp_path)
    connections = [await asyncpg.connect(fresh_database) for _ in range(4)]
    try:
        applied = await asyncio.gather(*(apply_migrations(c, plan) for c in connections))
        assert sorted(len(a) for a in applied) == [0, 0, 0, 1]
        assert await connections[0].fetchval("SELECT count(*) FROM counter") == 1
    finally:
        for conn in connections:
            await conn.close()
