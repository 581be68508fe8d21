"""Plain-SQL schema migrations with a version table, safe when several instances start at once."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

SHARED_MIGRATIONS = Path(__file__).parent / "migrations"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 7_214_683_001  # any constant: serialises migrations across instances


class MigrationError(RuntimeError):
    """The database does not match the migrations shipped with the code."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One SQL file: `NNNN_name.sql` of a component (shared or a service)."""

    component: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """The SQL's SHA-256, to notice an applied migration that was edited afterwards."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(component: str, folder: Path) -> list[Migration]:
    """The migrations of a folder, in version order; refuses gaps and badly named files."""
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path}: migration files are named NNNN_name.sql")
        found.append(Migration(component, int(match[1]), match[2], path.read_text(encoding="utf-8")))
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(f"{component}: migration {expected:04d} is missing")
    return found


async def apply_migrations(conn: asyncpg.Connection, migrations: list[Migration]) -> list[Migration]:
    """Apply what is not applied yet, each in its own transaction; returns what was applied."""
    applied_now: list[Migration] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                component  text        NOT NULL,
                version    integer     NOT NULL,
                name       text        NOT NULL,
                checksum   text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (component, version)
            )
            """
        )
        rows = await conn.fetch("SELECT component, version, checksum FROM schema_migrations")
        done = {(r["component"], r["version"]): r["checksum"] for r in rows}
        for migration in migrations:
            key = (migration.component, migration.version)
            if key in done:
                if done[key] != migration.checksum:
                    raise MigrationError(
                        f"{migration.component} migration {migration.version:04d}_{migration.name} "
                        "was changed after it was applied: add a new migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (component, version, name, checksum) VALUES ($1, $2, $3, $4)",
                    migration.component,
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            applied_now.append(migration)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now
