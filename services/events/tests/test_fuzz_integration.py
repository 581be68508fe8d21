"""Fuzzing the OpenAPI of a real gateway process on the real Kafka and PostgreSQL: no 5xx, ever."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import asyncpg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from vocation_events.core.partners import hash_api_key
from vocation_events.testing.helpers import start_gateway
from vocation_local.aio import run_sync
from vocation_local.answering import wait_answering
from vocation_local.paths import free_port
from vocation_local.pg_admin import create_database, drop_database

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEY = "vk_fuzz-test-key"


async def _add_partner(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO partners (name, source, allowed_types, key_hash, key_hint) "
            "VALUES ('fuzz', 'urn:partner:test', ARRAY['*'], $1, 'k')",
            hash_api_key(KEY),
        )
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def gateway_url(kafka_bootstrap: str, postgres_url: str) -> Iterator[str]:
    name = f"fuzz_{uuid.uuid4().hex[:10]}"
    dsn = run_sync(create_database(postgres_url, name))
    port = free_port()
    process = start_gateway(kafka_bootstrap, dsn, port)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_answering(process, base + "/health/ready")
        run_sync(_add_partner(dsn))
        yield base
    finally:
        process.terminate()
        process.wait(20)
        run_sync(drop_database(postgres_url, name))


@pytest.mark.parametrize("path", ["/v1/events", "/v1/events/batch"])
def test_no_request_of_a_partner_makes_the_real_gateway_fail(gateway_url: str, path: str) -> None:
    operation = schemathesis.openapi.from_url(gateway_url + "/openapi.json")[path]["POST"]

    @given(case=operation.as_strategy())
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    def fuzz(case: schemathesis.Case) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"}, checks=[not_a_server_error])

    fuzz()
