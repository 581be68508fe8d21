"""Webhooks end to end on the real broker and database: gateway → topic → queued delivery → partner's URL."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from vocation_events.adapters.postgres import PostgresOwners
from vocation_events.app import EventsService, running_service
from vocation_events.core.partners import Partner, hash_api_key, new_api_key
from vocation_events.core.webhooks import OWNER_ONLY_TYPES, SUBSCRIBABLE_TOPICS
from vocation_events.settings import EventsSettings
from vocation_events.testing.helpers import AddPartner, make_settings
from vocation_local.kafka_admin import start_groups_at_end
from vocation_shared.contracts.payloads import application_id_of
from vocation_shared.testing import samples
from vocation_shared.testing.asgi import serve_asgi

pytestmark = pytest.mark.integration

SOURCE = "urn:partner:hr-tool"


@dataclass
class Receiver:
    """A partner's endpoint: records what it is sent; answers 500 to the first `failures` requests,
    and to the first `fail_event[id]` requests carrying that event."""

    failures: int = 0
    fail_event: dict[str, int] = field(default_factory=dict)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    refused: int = 0

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            event_id = orjson.loads(body)["id"]
            if self.refused < self.failures or self.fail_event.get(event_id, 0) > 0:
                self.refused += 1
                if event_id in self.fail_event:
                    self.fail_event[event_id] -= 1
                return Response(status_code=500)
            self.received.append((dict(request.headers), body))
            return Response(status_code=204)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    def ids(self) -> list[str]:
        return [orjson.loads(body)["id"] for _, body in self.received]


@pytest.fixture
def settings(kafka_bootstrap: str, fresh_database: str) -> EventsSettings:
    return make_settings(
        kafka_bootstrap,
        fresh_database,
        archive_enabled=False,
        webhooks_enabled=True,
        webhook_retry_initial_s=0.1,
        webhook_retry_max_s=0.4,
        webhook_max_attempts=4,
        webhook_poll_s=0.05,
        # The receivers run on 127.0.0.1: allowed here as `make run` allows it (never in production).
        webhook_allowed_networks="127.0.0.1/32",
    )


@pytest.fixture
async def service(settings: EventsSettings) -> AsyncIterator[EventsService]:
    # The group starts where the topics end now: what other tests published is not this test's.
    for topic in SUBSCRIBABLE_TOPICS:
        await start_groups_at_end(settings.kafka_bootstrap, {settings.webhooks_group: str(topic)})
    async with running_service(settings) as running:
        yield running


async def _post(client: httpx.AsyncClient, key: str, *events: dict[str, Any]) -> None:
    answer = await client.post(
        "/v1/events/batch",
        content=orjson.dumps(list(events)),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/cloudevents-batch+json"},
    )
    assert answer.status_code == 202 and answer.json()["accepted"] == len(events), answer.text


def _vacancy(event_type: str, vacancy_id: str, version: int) -> dict[str, Any]:
    return samples.cloud_event(
        event_type,
        vacancy_id,
        samples.vacancy(id=vacancy_id, version=version),
        id=f"{vacancy_id}-v{version}",
        source=SOURCE,
    )


async def _until(check: Any, what: str, limit_s: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + limit_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def _signed_by(secret: str, headers: dict[str, str], body: bytes) -> bool:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, headers["webhook-signature"])


async def test_a_partner_receives_its_types_signed_in_order_after_its_endpoint_failed(
    service: EventsService, client: httpx.AsyncClient, add_partner: AddPartner
) -> None:
    receiver = Receiver(fail_event={"vac-wh-1-v1": 2})  # the first event fails twice, not the second
    async with serve_asgi(receiver.app()) as url:
        key = await add_partner("hr-tool", SOURCE)
        subscription = await service.webhooks.subscribe(
            "hr-tool",
            f"{url}/hook",
            frozenset({"fr.vocation.vacancy.posted.v1", "fr.vocation.vacancy.updated.v1"}),
        )
        site = {
            "id": "etab-ehpad-bourg",
            "siret": samples.SIRET_EHPAD_BOURG,
            "name": "EHPAD Les Tilleuls",
            "kind": "ehpad",
            "commune_insee": samples.BOURG_EN_BRESSE,
        }
        establishment = samples.cloud_event(
            "fr.vocation.establishment.registered.v1", "etab-ehpad-bourg", site, id="etab-1", source=SOURCE
        )
        await _post(
            client,
            key,
            _vacancy("fr.vocation.vacancy.posted.v1", "vac-wh-1", 1),
            establishment,  # not subscribed: never sent
            _vacancy("fr.vocation.vacancy.updated.v1", "vac-wh-1", 2),
        )
        await _until(lambda: len(receiver.received) == 2, "both vacancy events delivered")
        assert receiver.refused == 2, "the endpoint's two failures were retried"
        assert receiver.ids() == ["vac-wh-1-v1", "vac-wh-1-v2"], "the second waited for the first"
        for headers, body in receiver.received:
            assert headers["content-type"].startswith("application/cloudevents+json")
            assert headers["webhook-id"] == orjson.loads(body)["id"]
            assert _signed_by(subscription.secret, headers, body)
        await asyncio.sleep(0.5)
        assert len(receiver.received) == 2, "nothing else: the establishment's event was not subscribed"
        [listed] = await service.webhooks.listing("hr-tool")
        assert (listed["pending"], listed["delivered"], listed["failed"]) == (0, 2, 0)
        stored = await service.pool.fetchval(
            "SELECT secret FROM webhook_subscriptions WHERE id = $1", subscription.id
        )
        assert stored.startswith("enc1:") and subscription.secret not in stored, "the secret is stored sealed"


async def test_a_stopped_subscription_or_a_revoked_partner_receives_nothing_more(
    service: EventsService, client: httpx.AsyncClient, add_partner: AddPartner
) -> None:
    stopped, revoked, active = Receiver(), Receiver(), Receiver()
    posted = frozenset({"fr.vocation.vacancy.posted.v1"})
    async with (
        serve_asgi(stopped.app()) as stopped_url,
        serve_asgi(revoked.app()) as revoked_url,
        serve_asgi(active.app()) as active_url,
    ):
        key = await add_partner("hr-tool", SOURCE)
        await add_partner("old-portal", "urn:partner:old-portal")
        gone = await service.webhooks.subscribe("hr-tool", f"{stopped_url}/hook", posted)
        await service.webhooks.subscribe("old-portal", f"{revoked_url}/hook", posted)
        await service.webhooks.subscribe("hr-tool", f"{active_url}/hook", posted)
        assert await service.webhooks.unsubscribe(gone.id)
        assert await service.partners.revoke("old-portal")
        await _post(client, key, _vacancy("fr.vocation.vacancy.posted.v1", "vac-wh-2", 1))
        await _until(lambda: len(active.received) == 1, "the active subscription's delivery")
        await asyncio.sleep(0.3)
        assert stopped.received == [] and revoked.received == []
        pending = await service.pool.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE subscription_id = $1 AND state = 'pending'",
            gone.id,
        )
        assert pending == 0, "a stopped subscription keeps nothing queued"


async def test_deliveries_that_kept_failing_are_failed_then_redelivered_on_demand(
    settings: EventsSettings, service: EventsService, client: httpx.AsyncClient, add_partner: AddPartner
) -> None:
    receiver = Receiver(failures=1_000)
    async with serve_asgi(receiver.app()) as url:
        key = await add_partner("hr-tool", SOURCE)
        subscription = await service.webhooks.subscribe(
            "hr-tool", f"{url}/hook", frozenset({"fr.vocation.vacancy.posted.v1"})
        )
        await _post(client, key, _vacancy("fr.vocation.vacancy.posted.v1", "vac-wh-3", 1))

        async def failed() -> int:
            [listed] = await service.webhooks.listing("hr-tool")
            return int(listed["failed"])

        deadline = asyncio.get_running_loop().time() + 60
        while await failed() != 1:
            assert asyncio.get_running_loop().time() < deadline, "the delivery was never given up"
            await asyncio.sleep(0.1)
        [listed] = await service.webhooks.listing("hr-tool")
        assert listed["last_error"] == "HTTP 500"
        assert receiver.refused == settings.webhook_max_attempts
        receiver.failures = 0
        assert await service.webhooks.redeliver(subscription.id) == 1
        await _until(lambda: receiver.ids() == ["vac-wh-3-v1"], "the redelivery")


async def test_a_webhook_to_an_internal_address_is_refused_at_once_unless_the_operator_allows_it(
    settings: EventsSettings,
) -> None:
    """SSRF: the same loopback receiver, first without the allow-list (refused, never called,
    failed at the first attempt with the reason), then with it (delivered)."""
    receiver = Receiver()
    posted = frozenset({"fr.vocation.vacancy.posted.v1"})
    async with serve_asgi(receiver.app()) as url:
        for allowed in ("", "127.0.0.1/32"):
            # A group each: the second service does not wait for the first one's to rebalance.
            group = f"{settings.webhooks_group}-{len(allowed)}"
            for topic in SUBSCRIBABLE_TOPICS:
                await start_groups_at_end(settings.kafka_bootstrap, {group: str(topic)})
            run_settings = settings.model_copy(
                update={"webhook_allowed_networks": allowed, "webhooks_group": group}
            )
            async with running_service(run_settings) as service:
                name = f"hr-{len(allowed)}"
                key = new_api_key()
                await service.partners.create(
                    Partner(name, f"urn:partner:{name}", frozenset({"*"})), hash_api_key(key)
                )
                subscription = await service.webhooks.subscribe(name, f"{url}/hook", posted)
                transport = httpx.ASGITransport(app=service.http)
                async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                    event = samples.cloud_event(
                        "fr.vocation.vacancy.posted.v1",
                        f"vac-ssrf-{name}",
                        # A site of this partner's own: the two partners are two sources.
                        samples.vacancy(
                            id=f"vac-ssrf-{name}",
                            establishment={**samples.vacancy()["establishment"], "id": f"etab-ssrf-{name}"},
                        ),
                        id=f"vac-ssrf-{name}",
                        source=f"urn:partner:{name}",
                    )
                    await _post(client, key, event)
                if not allowed:

                    async def failed(name: str = name) -> bool:
                        [listed] = await service.webhooks.listing(name)
                        return int(listed["failed"]) == 1

                    deadline = asyncio.get_running_loop().time() + 30
                    while not await failed():
                        assert asyncio.get_running_loop().time() < deadline, "the delivery was not refused"
                        await asyncio.sleep(0.05)
                    row = await service.pool.fetchrow(
                        "SELECT attempts, last_error FROM webhook_deliveries WHERE subscription_id = $1",
                        subscription.id,
                    )
                    assert row["attempts"] == 1, "refused once, not retried"
                    assert (
                        row["last_error"].startswith("refused: 127.0.0.1") and "loopback" in row["last_error"]
                    )
                    assert receiver.received == [] and receiver.refused == 0, "the receiver was never called"
                else:
                    expected = f"vac-ssrf-{name}"  # (the first subscription, still active, gets it too)
                    await _until(lambda e=expected: e in receiver.ids(), "the allowed delivery")


async def _as_catalogue(bootstrap: str, event_type: str, offer: str, candidate: str, event_id: str) -> None:
    """The catalogue's fact about `candidate`'s application to `offer`, written to `applications`."""
    pair = {
        "candidate_id": candidate,
        "offer_id": offer,
        "application_id": application_id_of(candidate, offer),
    }
    if event_type.endswith("submitted.v1"):
        data = samples.application_submitted(**pair)
    else:
        data = pair | {"reason": "candidate", "withdrawn_at": "2026-12-05T10:00:00+01:00"}
    event = samples.cloud_event(event_type, candidate, data, id=event_id, source="urn:vocation:catalogue")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(
            "applications", orjson.dumps(event), key=f"{candidate}/{pair['application_id']}".encode()
        )
    finally:
        await producer.stop()


async def test_applications_go_by_webhook_to_the_vacancys_owner_only_and_follow_a_transfer(
    settings: EventsSettings, service: EventsService, client: httpx.AsyncClient, add_partner: AddPartner
) -> None:
    owner, other = Receiver(), Receiver()
    submitted, withdrawn = (f"fr.vocation.application.{t}.v1" for t in ("submitted", "withdrawn"))
    async with serve_asgi(owner.app()) as owner_url, serve_asgi(other.app()) as other_url:
        key = await add_partner("hr-tool", SOURCE)
        await add_partner("other-ats", "urn:partner:other-ats")
        await service.webhooks.subscribe("hr-tool", f"{owner_url}/hook", OWNER_ONLY_TYPES)
        await service.webhooks.subscribe("other-ats", f"{other_url}/hook", OWNER_ONLY_TYPES)
        await _post(client, key, _vacancy("fr.vocation.vacancy.posted.v1", "vac-app-1", 1))
        bootstrap = settings.kafka_bootstrap
        await _as_catalogue(bootstrap, submitted, "vac-app-1", "cand-app-1", "app-1")
        pair = {"candidate_id": "cand-app-1", "offer_id": "vac-app-1"}
        answer = samples.application_answered(application_id=application_id_of(**pair), **pair)
        await _post(
            client,
            key,
            samples.cloud_event(
                "fr.vocation.application.answered.v1", "cand-app-1", answer, id="app-2", source=SOURCE
            ),
        )
        await _as_catalogue(bootstrap, submitted, "vac-nobody", "cand-app-1", "app-3")  # no owner: no one
        await _until(lambda: owner.ids() == ["app-1", "app-2"], "the owner's two deliveries")
        sent = orjson.loads(owner.received[0][1])
        assert sent["data"]["message"] == samples.application_submitted()["message"]
        assert sent["data"]["shares"] == {"email": True, "phone": False}, "flags only: never a contact"

        other_partner = await service.partners.by_name("other-ats")
        assert other_partner is not None
        await PostgresOwners(service.pool).transfer("vacancy", "vac-app-1", other_partner, "ops", "fusion")
        await _as_catalogue(bootstrap, withdrawn, "vac-app-1", "cand-app-1", "app-4")
        await _until(lambda: other.ids() == ["app-4"], "the new owner's delivery")
        await asyncio.sleep(0.5)
        assert owner.ids() == ["app-1", "app-2"], "the former owner receives nothing more"
        assert other.ids() == ["app-4"], "nothing from before the transfer, nothing about a vacancy of no one"
