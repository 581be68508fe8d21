"""Pytest plugin: session-wide real Kafka and PostgreSQL (env, Docker, or local processes).

Load it from the root conftest with `pytest_plugins = ["vocation_local.testing"]`. Fixtures:
`kafka_bootstrap`, `kafka_broker`, `platform_kafka_bootstrap`, `postgres_url`, `postgres_server`, `make_database`,
`fresh_database`, and `browser_checker` (Chromium and axe-core, see `vocation_local.browser`). All
are synchronous, so async tests of any loop scope can use them.

Where each comes from, in order: `VOCATION_KAFKA_BOOTSTRAP` / `VOCATION_DATABASE_URL`; else a
container when a Docker engine answers (`VOCATION_TEST_INFRA=local` skips that); else a broker
and a server started here on free ports in temporary folders, stopped at the end of the session.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
from vocation_shared.contracts.topics import all_topics

from vocation_local.aio import run_sync
from vocation_local.browser import browser_checker as browser_checker  # a fixture of this plugin
from vocation_local.kafka import KafkaBroker, KafkaStartError, create_topics
from vocation_local.paths import free_port
from vocation_local.pg_admin import create_database, drop_database
from vocation_local.postgres import FAST_SETTINGS, PostgresServer, PostgresStartError
from vocation_local.settings import SessionInfraSettings

TEST_PARTITIONS = 3
KAFKA_IMAGE = SessionInfraSettings().test_kafka_image
POSTGRES_IMAGE = SessionInfraSettings().test_postgres_image


@functools.cache
def docker_available() -> bool:
    """Whether containers may be used: `VOCATION_TEST_INFRA` allows it and `docker info` answers."""
    if SessionInfraSettings().test_infra == "local":
        return False
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        result = subprocess.run([docker, "info"], capture_output=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


@dataclass
class KafkaService:
    """The session's Kafka: its bootstrap servers, and the broker object when run here."""

    bootstrap: str
    broker: KafkaBroker | None = None


@dataclass
class PostgresService:
    """The session's PostgreSQL: a server-level DSN, and the server object when run here."""

    url: str
    server: PostgresServer | None = None


def _kafka_container() -> tuple[Any, str]:
    from testcontainers.community.kafka import KafkaContainer

    container = KafkaContainer(KAFKA_IMAGE).with_kraft()
    container.with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
    container.with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
    container.with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
    container.start(timeout=120)
    return container, str(container.get_bootstrap_server())


def _postgres_container() -> tuple[Any, str]:
    from testcontainers.community.postgres import PostgresContainer

    container = PostgresContainer(POSTGRES_IMAGE, driver=None)
    container.start()
    return container, str(container.get_connection_url())


class _Startable(Protocol):
    def start(self, timeout: float = ...) -> None: ...


S = TypeVar("S", bound=_Startable)


def _start_local(make: Callable[[], S], attempts: int = 3) -> S:
    """Start a local server on fresh free ports, retrying if another process took a port."""
    for attempt in range(1, attempts + 1):
        service = make()
        try:
            service.start()
        except (KafkaStartError, PostgresStartError):
            if attempt == attempts:
                raise
            continue
        return service
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def _vocation_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaService]:
    specs = all_topics(partitions=TEST_PARTITIONS)
    configured = SessionInfraSettings().kafka_bootstrap
    if configured:
        run_sync(create_topics(configured, specs))
        yield KafkaService(configured)
    elif docker_available():
        container, bootstrap = _kafka_container()
        try:
            run_sync(create_topics(bootstrap, specs))
            yield KafkaService(bootstrap)
        finally:
            container.stop()
    else:
        broker = _start_local(lambda: KafkaBroker(tmp_path_factory.mktemp("kafka"), free_port(), free_port()))
        try:
            run_sync(create_topics(broker.bootstrap, specs))
            yield KafkaService(broker.bootstrap, broker)
        finally:
            broker.stop()


@pytest.fixture(scope="session")
def platform_kafka_bootstrap(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Kafka of its own for the whole platform run as processes (end-to-end tests).

    The services read their topics from the start, as a first deployment does: on the
    session's broker they would first wade through the thousands of events other tests left.
    With `VOCATION_KAFKA_BOOTSTRAP`, the configured broker is shared instead.
    """
    if SessionInfraSettings().kafka_bootstrap:
        yield kafka_bootstrap
        return
    if docker_available():
        container, bootstrap = _kafka_container()
        try:
            run_sync(create_topics(bootstrap, all_topics(partitions=TEST_PARTITIONS)))
            yield bootstrap
        finally:
            container.stop()
        return
    broker = _start_local(
        lambda: KafkaBroker(tmp_path_factory.mktemp("platform-kafka"), free_port(), free_port())
    )
    try:
        run_sync(create_topics(broker.bootstrap, all_topics(partitions=TEST_PARTITIONS)))
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(_vocation_kafka: KafkaService) -> str:
    """Bootstrap servers of a real Kafka with every registry topic (3 partitions per entity)."""
    return _vocation_kafka.bootstrap


@pytest.fixture(scope="session")
def kafka_broker(_vocation_kafka: KafkaService) -> KafkaBroker | None:
    """The local broker (for kill/restart fault tests), or None when Kafka is not run here."""
    return _vocation_kafka.broker


@pytest.fixture(scope="session")
def _vocation_postgres() -> Iterator[PostgresService]:
    configured = SessionInfraSettings().database_url
    if configured:
        yield PostgresService(configured)
    elif docker_available():
        container, url = _postgres_container()
        try:
            yield PostgresService(url)
        finally:
            container.stop()
    else:
        # Not under pytest's basetemp: that folder is 0700, and as root the server runs as
        # another system user who must be able to reach its data folder.
        data_dir = Path(tempfile.mkdtemp(prefix="vocation-pg-")) / "data"
        server = _start_local(lambda: PostgresServer(data_dir, free_port(), settings=FAST_SETTINGS))
        try:
            yield PostgresService(server.url, server)
        finally:
            server.stop()
            shutil.rmtree(data_dir.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(_vocation_postgres: PostgresService) -> str:
    """DSN of a server-level database (`postgres`) on a real PostgreSQL."""
    return _vocation_postgres.url


@pytest.fixture(scope="session")
def postgres_server(_vocation_postgres: PostgresService) -> PostgresServer | None:
    """The local PostgreSQL server (for fault tests), or None when it is not run here."""
    return _vocation_postgres.server


class DatabaseFactory(Protocol):
    """What `make_database` gives: call it to get the DSN of a new empty database."""

    def __call__(self, prefix: str = "test") -> str:
        """Create a database named `<prefix>_<random>`; return its DSN."""
        ...


@pytest.fixture
def make_database(postgres_url: str) -> Iterator[DatabaseFactory]:
    """A factory: `make_database("events")` creates an empty, uniquely named database; its DSN.

    The databases are dropped (sessions closed by force) when the test ends.
    """
    created: list[str] = []

    def make(prefix: str = "test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        dsn = run_sync(create_database(postgres_url, name))
        created.append(name)
        return dsn

    yield make
    for name in created:
        try:
            run_sync(drop_database(postgres_url, name))
        except Exception as exc:  # the server may be down after a fault test: not this test's failure
            warnings.warn(f"could not drop test database {name}: {exc!r}", stacklevel=1)


@pytest.fixture
def fresh_database(make_database: DatabaseFactory) -> str:
    """DSN of a new empty database for this test only."""
    return make_database("test")
