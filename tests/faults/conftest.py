"""Fixtures of the fault suite: a broker of its own (restarted by the tests) and the platform on it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from vocation_local.faults import FaultPlatform, running_platform
from vocation_local.kafka import KafkaBroker, KafkaStartError
from vocation_local.partners import create_partner
from vocation_local.paths import free_port

SOURCE = "urn:partner:faults-departement-ain"

# Settings of the services for the fault runs: per-person caps out of the way (every match must be
# told), a short lease so that a killed sender's rows come back in seconds, short retry backoff
# so that a restarted broker is noticed quickly, and few matches per event to keep the run short.
FAULT_ENVIRONMENT = {
    "VOCATION_LEASE_S": "10",
    "VOCATION_DAILY_CAP_EMAIL": "100000",
    "VOCATION_DAILY_CAP_SMS": "100000",
    "VOCATION_TOP_PER_OFFER": "3",
    "VOCATION_TOP_PER_CANDIDATE": "2",
    "VOCATION_DAILY_CAP_PER_CANDIDATE": "6",
    "VOCATION_CONSUMER_RETRY_MAX_S": "5",
}


@pytest.fixture(scope="session")
def fault_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """A Kafka node for the fault suite alone, so that restarting it disturbs no other fixture."""
    for attempt in range(3):
        broker = KafkaBroker(tmp_path_factory.mktemp("fault-kafka"), free_port(), free_port())
        try:
            broker.start()
            break
        except KafkaStartError:
            broker.stop()
            if attempt == 2:
                raise
    broker.ensure_topics(partitions=3)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def fault_platform(
    fault_broker: KafkaBroker, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FaultPlatform]:
    """Mailbox and the four services, on the suite's broker and fresh databases."""
    with running_platform(
        fault_broker.bootstrap,
        postgres_url,
        tmp_path_factory.mktemp("fault-platform"),
        database_prefix=f"faults_{uuid.uuid4().hex[:8]}",
        environment=FAULT_ENVIRONMENT,
    ) as platform:
        yield platform


@pytest.fixture(scope="session")
def partner(fault_platform: FaultPlatform) -> tuple[str, str]:
    """(API key, source) of a partner allowed every event type."""
    name = f"faults-{uuid.uuid4().hex[:6]}"
    return create_partner(fault_platform.environments["events"], name, SOURCE, share_source=True).key, SOURCE
