"""PostgreSQL plumbing: connection pool, plain-SQL migrations, idempotent consumption."""

from vocation_shared.postgres.idempotency import mark_processed
from vocation_shared.postgres.migrations import Migration, apply_migrations, load_migrations
from vocation_shared.postgres.pool import create_pool

__all__ = ["Migration", "apply_migrations", "create_pool", "load_migrations", "mark_processed"]
