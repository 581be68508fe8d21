"""A partner's rate is the partner's: one bucket for every gateway process and instance (PostgreSQL)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from vocation_events.adapters.rate_limits import InMemoryRateLimits, PostgresRateLimits
from vocation_events.app import MIGRATIONS, running_service
from vocation_events.core.partners import Partner, hash_api_key, key_hint, new_api_key
from vocation_events.core.ratelimit import RateDefaults, RateLimiter
from vocation_events.ports import RateLimits
from vocation_events.testing.helpers import make_settings
from vocation_shared.postgres import create_pool
from vocation_shared.testing import samples

pytestmark = pytest.mark.integration

DEFAULTS = RateDefaults(rate=10, burst=20, min_burst=1)


@pytest.fixture(params=["in-memory", "postgres"])
async def limits(request: pytest.FixtureRequest, fresh_database: str) -> AsyncIterator[RateLimits]:
    """The same contract, for the fake and for the real adapter."""
    if request.param == "in-memory":
        yield InMemoryRateLimits(
            RateLimiter(DEFAULTS.rate, DEFAULTS.burst, DEFAULTS.min_burst), time.monotonic
        )
        return
    async with create_pool(fresh_database, migrations=[("events", MIGRATIONS)], max_size=2) as pool:
        yield PostgresRateLimits(pool, DEFAULTS)


async def test_a_partner_spends_its_burst_then_waits_for_the_refill(limits: RateLimits) -> None:
    assert await limits.available("p", None, None) == 20
    assert await limits.take("p", None, None, 20) == 0
    wait = await limits.take("p", None, None, 5)  # 10 per second: half a second for 5
    assert 0.3 < wait <= 0.5
    assert await limits.available("p", None, None) < 5
    assert await limits.take("other", None, None, 20) == 0, "one bucket per partner"
    assert await limits.take("own-rate", 1000, 5, 5) == 0 and await limits.take("own-rate", 1000, 5, 5) > 0


async def test_two_gateway_processes_share_one_partner_bucket(fresh_database: str) -> None:
    async with (
        create_pool(fresh_database, migrations=[("events", MIGRATIONS)], max_size=2) as one,
        create_pool(fresh_database, migrations=[("events", MIGRATIONS)], max_size=2) as two,
    ):
        first, second = PostgresRateLimits(one, DEFAULTS), PostgresRateLimits(two, DEFAULTS)
        assert await first.take("p", None, None, 15) == 0
        assert await second.take("p", None, None, 10) > 0, "the other process sees what was spent"
        assert await second.take("p", None, None, 5) == 0


async def test_gateway_instances_on_one_database_answer_429_together(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    settings = make_settings(kafka_bootstrap, fresh_database, archive_enabled=False, max_batch_events=2)
    key, run = new_api_key(), uuid.uuid4().hex[:8]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/cloudevents+json"}

    def vacancy(n: int) -> bytes:
        vacancy_id = f"vac-{run}-{n}"
        event = samples.cloud_event(
            "fr.vocation.vacancy.posted.v1", vacancy_id, samples.vacancy(id=vacancy_id), id=f"evt-{run}-{n}"
        )
        return orjson.dumps(event)

    async with running_service(settings) as a, running_service(settings) as b:
        partner = Partner(
            f"slow-{run}",
            "urn:partner:test",
            frozenset({"*"}),
            key_hint=key_hint(key),
            rate_per_s=0.5,
            burst=2,
        )
        assert await a.partners.create(partner, hash_api_key(key))
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=a.http), base_url="http://a") as to_a,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=b.http), base_url="http://b") as to_b,
        ):
            assert (await to_a.post("/v1/events", content=vacancy(1), headers=headers)).status_code == 202
            assert (await to_b.post("/v1/events", content=vacancy(2), headers=headers)).status_code == 202
            refused = await to_a.post("/v1/events", content=vacancy(3), headers=headers)
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
            assert (await to_b.post("/v1/events", content=vacancy(4), headers=headers)).status_code == 429
