"""Fixtures of the events service tests: a running gateway on the real Kafka and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from vocation_events.app import EventsService, running_service
from vocation_events.core.partners import Partner, hash_api_key, key_hint, new_api_key
from vocation_events.settings import EventsSettings
from vocation_events.testing.helpers import AddPartner, make_settings


@pytest.fixture
def settings(kafka_bootstrap: str, fresh_database: str) -> EventsSettings:
    return make_settings(kafka_bootstrap, fresh_database, archive_enabled=False)


@pytest.fixture
async def service(settings: EventsSettings) -> AsyncIterator[EventsService]:
    async with running_service(settings) as running:
        yield running


@pytest.fixture
async def client(service: EventsService) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.http)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield http


@pytest.fixture
def add_partner(service: EventsService) -> AddPartner:
    """Create a partner in the service's database; returns its API key."""

    async def add(
        name: str | None = None,
        source: str = "urn:partner:test",
        types: frozenset[str] = frozenset({"*"}),
        **kwargs: object,
    ) -> str:
        key = new_api_key()
        partner = Partner(
            name or f"p-{uuid.uuid4().hex[:8]}",
            source,
            types,
            key_hint=key_hint(key),
            **kwargs,  # type: ignore[arg-type]
        )
        assert await service.partners.create(partner, hash_api_key(key))
        return key

    return add
