"""Real Kafka and PostgreSQL for a benchmark run: the ones named by the environment, or fresh local ones."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vocation_local.kafka import KafkaBroker, create_topics
from vocation_local.paths import free_port
from vocation_local.postgres import PostgresServer
from vocation_shared.contracts.topics import all_topics


@dataclass(frozen=True, slots=True)
class BenchInfra:
    """Where the benchmark's Kafka and PostgreSQL are."""

    kafka_bootstrap: str
    postgres_url: str


@contextmanager
def bench_infra(partitions: int = 6) -> Iterator[BenchInfra]:
    """Kafka and PostgreSQL for one benchmark; stopped on exit when started here.

    PostgreSQL keeps fsync on, as in production: the figures include durable commits.
    """
    bootstrap = os.environ.get("VOCATION_KAFKA_BOOTSTRAP")
    database = os.environ.get("VOCATION_DATABASE_URL")
    folder = Path(tempfile.mkdtemp(prefix="vocation-bench-"))
    broker = server = None
    try:
        if bootstrap is None:
            port = free_port()
            broker = KafkaBroker(folder / "kafka", port, free_port())
            broker.start()
            bootstrap = broker.bootstrap
        asyncio.run(create_topics(bootstrap, all_topics(partitions)))
        if database is None:
            server = PostgresServer(folder / "postgres", free_port())
            server.start()
            database = server.url
        yield BenchInfra(bootstrap, database)
    finally:
        if broker is not None:
            broker.stop()
        if server is not None:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)
