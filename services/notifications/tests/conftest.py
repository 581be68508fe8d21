"""Fixtures of the notifications tests: SMTP server, SMS provider stub, clock, and a running service."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from vocation_local.kafka_admin import start_groups_at_end
from vocation_notifications.adapters.kafka import CONSUMED as SUBSCRIBED
from vocation_notifications.app import running_service
from vocation_notifications.testing import (
    MORNING,
    FakeClock,
    Harness,
    SmsProviderStub,
    SmtpSink,
    email_events_app,
    settings_for_tests,
    sms_provider,
    smtp_server,
)
from vocation_shared.kafka import EventPublisher, make_broker
from vocation_shared.testing.asgi import serve_asgi

CONSUMED = SUBSCRIBED
"""Every topic the service reads (its consumer groups start where these end now)."""


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpSink, int]]:
    """A real SMTP server on loopback."""
    with smtp_server() as served:
        yield served


@pytest.fixture
async def sms_stub() -> AsyncIterator[tuple[SmsProviderStub, str]]:
    """The SMS provider stub on loopback."""
    async with sms_provider() as served:
        yield served


@pytest.fixture(scope="session")
async def publisher(kafka_bootstrap: str) -> AsyncIterator[EventPublisher]:
    """A connected publisher for the whole session."""
    broker = make_broker(kafka_bootstrap, client_id="notifications-tests")
    await broker.connect()
    try:
        yield EventPublisher(broker)
    finally:
        await broker.stop()


@pytest.fixture
async def harness(
    kafka_bootstrap: str,
    fresh_database: str,
    smtp: tuple[SmtpSink, int],
    sms_stub: tuple[SmsProviderStub, str],
    publisher: EventPublisher,
) -> AsyncIterator[Harness]:
    """The service on a fresh database with loopback providers; the test drives the worker."""
    sink, port = smtp
    stub, url = sms_stub
    run = uuid.uuid4().hex[:10]
    clock = FakeClock(MORNING)
    async with serve_asgi(email_events_app(sink)) as events_url:
        settings = settings_for_tests(
            database_url=fresh_database,
            kafka_bootstrap=kafka_bootstrap,
            smtp_port=port,
            sms_url=url,
            run=run,
            email_events_url=events_url,
            email_events_key="test-key",
        )
        # Start where the shared topics end now: other tests' thousands of matches are not this test's.
        await start_groups_at_end(
            kafka_bootstrap, {f"{settings.consumer_group}-{topic}": topic for topic in CONSUMED}
        )
        async with running_service(settings, clock=clock) as service:
            yield Harness(service, sink, stub, clock, publisher, run, kafka_bootstrap, fresh_database)
