"""The HTTP answers of the gateway, wired to in-memory fakes: every error code, batches, duplicates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from vocation_events.testing.fakes import FakeWorld
from vocation_shared.testing import samples

pytestmark = pytest.mark.unit

SINGLE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


def vacancy(n: int = 1, data: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    return samples.cloud_event(
        "fr.vocation.vacancy.posted.v1",
        f"vac-{n}",
        data or samples.vacancy(id=f"vac-{n}"),
        id=f"evt-{n}",
        **overrides,
    )


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


@pytest.fixture
async def http(world: FakeWorld) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.app), base_url="http://gw"
    ) as client:
        yield client


async def post(
    http: httpx.AsyncClient,
    body: Any,
    *,
    key: str | None = "key-all",
    path: str = "/v1/events",
    content_type: str = SINGLE,
    raw: bytes | None = None,
) -> httpx.Response:
    headers = {"Content-Type": content_type}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return await http.post(path, content=raw if raw is not None else orjson.dumps(body), headers=headers)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:vocation:problem:")
    return body


async def test_a_valid_event_is_accepted_with_202_after_it_is_written(
    http: httpx.AsyncClient, world: FakeWorld
) -> None:
    response = await post(http, vacancy())
    assert response.status_code == 202
    assert response.json() == {"id": "evt-1", "status": "accepted"}
    assert [r.key for r in world.sink.records] == [b"vac-1"]


async def test_the_api_key_may_come_in_x_api_key(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/v1/events",
        content=orjson.dumps(vacancy()),
        headers={"X-API-Key": "key-all", "Content-Type": SINGLE},
    )
    assert response.status_code == 202


async def test_plain_json_is_accepted_for_one_event(http: httpx.AsyncClient) -> None:
    assert (await post(http, vacancy(), content_type="application/json; charset=utf-8")).status_code == 202


async def test_a_resent_event_is_a_duplicate_and_is_written_once(
    http: httpx.AsyncClient, world: FakeWorld
) -> None:
    await post(http, vacancy())
    response = await post(http, vacancy())
    assert response.status_code == 200
    assert response.json()["status"] == "duplicate"
    assert len(world.sink.records) == 1


@pytest.mark.parametrize("key", [None, "wrong-key", ""])
async def test_a_missing_or_unknown_key_is_401(http: httpx.AsyncClient, key: str | None) -> None:
    response = await post(http, vacancy(), key=key)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_type_the_partner_may_not_send_is_403(http: httpx.AsyncClient) -> None:
    document = samples.cloud_event("fr.vocation.candidate.registered.v1", "cand-0001", samples.candidate())
    body = assert_problem(await post(http, document, key="key-vac"), 403)
    assert body["errors"][0]["pointer"] == "/type"


async def test_a_foreign_source_is_403(http: httpx.AsyncClient) -> None:
    body = assert_problem(await post(http, vacancy(source="urn:partner:other")), 403)
    assert body["errors"][0]["pointer"] == "/source"


async def test_a_too_large_body_is_413(http: httpx.AsyncClient, world: FakeWorld) -> None:
    big = b'{"x": "' + b"a" * world.settings.max_event_bytes + b'"}'
    assert_problem(await post(http, None, raw=big), 413)


async def test_a_batch_of_too_many_events_is_413(http: httpx.AsyncClient, world: FakeWorld) -> None:
    batch = [{}] * (world.settings.max_batch_events + 1)
    assert_problem(await post(http, batch, path="/v1/events/batch", content_type=BATCH), 413)


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", ""])
async def test_a_wrong_content_type_is_415(http: httpx.AsyncClient, content_type: str) -> None:
    assert_problem(await post(http, vacancy(), content_type=content_type), 415)


async def test_unparsable_json_is_400(http: httpx.AsyncClient) -> None:
    assert_problem(await post(http, None, raw=b'{"specversion": "1.0", "id":'), 400)


async def test_a_schema_violation_is_422_with_json_pointers(http: httpx.AsyncClient) -> None:
    data = samples.vacancy(id="vac-1", rome_code="Q0000", posts=0)
    body = assert_problem(await post(http, vacancy(data=data)), 422)
    pointers = {e["pointer"] for e in body["errors"]}
    assert {"/data/rome_code", "/data/posts"} <= pointers
    assert all(e["message"] for e in body["errors"])


async def test_a_partner_over_its_rate_gets_429_with_retry_after(http: httpx.AsyncClient) -> None:
    assert (await post(http, vacancy(1), key="key-slow")).status_code == 202
    response = await post(http, vacancy(2), key="key-slow")
    assert_problem(response, 429)
    assert int(response.headers["retry-after"]) >= 1


async def test_kafka_unreachable_is_503_and_the_event_is_not_accepted(
    http: httpx.AsyncClient, world: FakeWorld
) -> None:
    world.sink.down = True
    body = assert_problem(await post(http, vacancy()), 503)
    assert "not accepted" in body["title"]
    world.sink.down = False
    # Nothing was claimed: the same event is accepted once Kafka is back.
    assert (await post(http, vacancy())).status_code == 202


async def test_a_batch_answers_each_event_and_one_bad_event_does_not_reject_the_others(
    http: httpx.AsyncClient, world: FakeWorld
) -> None:
    await post(http, vacancy(3))
    batch = [
        vacancy(1),
        vacancy(2, data=samples.vacancy(id="vac-2", rome_code="Q0000")),
        vacancy(3),
        "not an event",
        vacancy(4, source="urn:partner:other"),
        vacancy(1),
    ]
    response = await post(http, batch, path="/v1/events/batch", content_type=BATCH)
    assert response.status_code == 202
    body = response.json()
    assert [r["status"] for r in body["results"]] == [
        "accepted",
        "rejected",
        "duplicate",
        "rejected",
        "rejected",
        "duplicate",
    ]
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (1, 2, 3)
    assert body["results"][1]["problem"]["errors"][0]["pointer"] == "/data/rome_code"
    assert body["results"][4]["problem"]["status"] == 403
    assert sorted(r.key for r in world.sink.records) == [b"vac-1", b"vac-3"]


async def test_a_batch_that_is_not_an_array_is_422(http: httpx.AsyncClient) -> None:
    assert_problem(await post(http, vacancy(), path="/v1/events/batch", content_type=BATCH), 422)


async def test_metrics_count_outcomes_by_type_and_partner(http: httpx.AsyncClient, world: FakeWorld) -> None:
    await post(http, vacancy(1))
    await post(http, vacancy(1))
    await post(http, vacancy(2, type="fr.vocation.unknown.thing.v1"))
    value = world.metrics.registry.get_sample_value
    labels = {"type": "fr.vocation.vacancy.posted.v1", "partner": "acme"}
    assert value("vocation_events_gateway_events_total", {"outcome": "accepted", **labels}) == 1
    assert value("vocation_events_gateway_events_total", {"outcome": "duplicate", **labels}) == 1
    assert (
        value(
            "vocation_events_gateway_events_total",
            {"outcome": "rejected", "type": "unknown", "partner": "acme"},
        )
        == 1
    )


async def test_an_unknown_path_is_a_problem_not_a_crash(http: httpx.AsyncClient) -> None:
    assert_problem(await http.get("/v1/nothing"), 404)


async def test_the_openapi_document_describes_the_webhook_partners_receive(http: httpx.AsyncClient) -> None:
    document = (await http.get("/openapi.json")).json()
    webhook = document["webhooks"]["vocation-event"]["post"]
    assert "webhook-signature" in webhook["description"]
    assert "application/cloudevents+json" in webhook["requestBody"]["content"]
