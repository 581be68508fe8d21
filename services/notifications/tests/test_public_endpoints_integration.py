"""The public endpoints of the running service: bounded bodies, throttled failures, rotated secrets, redacted errors."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from vocation_local.kafka_admin import start_groups_at_end
from vocation_notifications.app import NotificationsService, running_service
from vocation_notifications.core.tokens import sign_unsubscribe
from vocation_notifications.testing import (
    Harness,
    SmsProviderStub,
    SmtpSink,
    match,
    phone_of,
    read_events,
    settings_for_tests,
)
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.topics import Topic
from vocation_shared.contracts.vocabulary import Channel
from vocation_shared.links import Action, LinkSigner

pytestmark = pytest.mark.integration

CURRENT = "Xq3v0b8kJm2Yt7Rw1Zp4Lc9Hs6Nd5Fe0Ga8Ub3Vi2Wo7Ex"
PREVIOUS = "Ta9Kc2Lm7Pq4Rs1Vw8Xy3Zb6Dd0Ff5Gh2Jj9Kk4Ll1Mn"
INBOUND = "Hb4Nc8Qd1Rf5Sg9Th2Uj6Vk0Wl3Xm7Yn1Zp5Aq9Br3Cs"
PSEUDONYM_KEY = "Pk7Rt2Wq9Zs4Lm1Xc8Vb3Nh6Jd0Fg5Ka2Yu7Ei4Op9Qw"
LINK_KEY = "Lk4Tq8Wz1Rs6Mn3Xb9Vc2Hd7Jf0Gk5Pa8Yu1Ei6Or3Qs"
ATTACKER = ("203.0.113.66", 40000)
NEIGHBOUR = ("198.51.100.7", 40001)


@pytest.fixture
async def guarded(
    kafka_bootstrap: str,
    fresh_database: str,
    smtp: tuple[SmtpSink, int],
    sms_stub: tuple[SmsProviderStub, str],
) -> AsyncIterator[NotificationsService]:
    """The service with production-like secrets: a rotated signing secret, an inbound token, 3 failures allowed."""
    run = uuid.uuid4().hex[:10]
    settings = settings_for_tests(
        database_url=fresh_database,
        kafka_bootstrap=kafka_bootstrap,
        smtp_port=smtp[1],
        sms_url=sms_stub[1],
        run=run,
        dev_mode=False,
        signing_secret=CURRENT,
        signing_secret_previous=PREVIOUS,
        sms_inbound_token=INBOUND,
        pseudonym_key=PSEUDONYM_KEY,
        link_key=LINK_KEY,
        public_failures_burst=3,
        public_failures_per_minute=6,
    )
    await start_groups_at_end(
        kafka_bootstrap,
        {f"{settings.consumer_group}-{t}": t for t in (Topic.CANDIDATE_CONTACTS, Topic.MATCHES)},
    )
    async with running_service(settings) as service:
        yield service


def _client(service: NotificationsService, client: tuple[str, int] = ATTACKER) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=service.http, client=client)
    return httpx.AsyncClient(transport=transport, base_url="http://notifications")


async def test_oversized_bodies_get_413_on_every_public_endpoint(guarded: NotificationsService) -> None:
    big = b"x" * (16 * 1024 + 1)
    token = sign_unsubscribe(CURRENT, "cand-413", Channel.EMAIL)
    async with _client(guarded) as client:
        for method, path in (
            ("GET", f"/desinscription?token={token}"),
            ("POST", f"/desinscription?token={token}"),
            ("POST", "/liens/nouveau"),
            ("POST", "/sms/inbound"),
        ):
            answer = await client.request(method, path, content=big, headers={"x-vocation-token": INBOUND})
            assert answer.status_code == 413, (method, path)
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["title"] == "Requête trop volumineuse"
        # A body within the limit is read as before.
        ok = await client.post(
            "/sms/inbound",
            json={"from": "+33700000001", "text": "Bonjour"},
            headers={"x-vocation-token": INBOUND},
        )
        assert ok.json() == {"status": "ignored"}


async def test_forged_tokens_asking_for_a_fresh_link_are_throttled_like_unsubscribe_links(
    guarded: NotificationsService,
) -> None:
    forged = LinkSigner(["not-our-link-key-" + "x" * 32]).sign(Action.HIRED, "cand-1", "vac-1")
    ours = LinkSigner([LINK_KEY]).sign(Action.HIRED, "cand-1", "vac-1")
    async with _client(guarded) as attacker, _client(guarded, NEIGHBOUR) as neighbour:
        answers = [await attacker.post("/liens/nouveau", data={"token": forged}) for _ in range(3)]
        assert {a.status_code for a in answers} == {200}  # the same page as for a genuine token
        throttled = await attacker.post("/liens/nouveau", data={"token": ours})
        assert throttled.status_code == 429 and "Réessayez dans" in throttled.text
        assert int(throttled.headers["retry-after"]) >= 1
        assert (await neighbour.post("/liens/nouveau", data={"token": ours})).status_code == 200


async def test_repeated_invalid_links_are_throttled_per_address_with_retry_after(
    guarded: NotificationsService,
) -> None:
    forged = sign_unsubscribe("not-our-secret-" + "x" * 32, "cand-1", Channel.EMAIL)
    valid = sign_unsubscribe(CURRENT, "cand-1", Channel.EMAIL)
    async with _client(guarded) as attacker, _client(guarded, NEIGHBOUR) as neighbour:
        for _ in range(3):
            refused = await attacker.post(f"/desinscription?token={forged}")
            assert refused.status_code == 400 and refused.json()["title"] == "Lien invalide"
        throttled = await attacker.post(f"/desinscription?token={forged}")
        assert throttled.status_code == 429
        assert throttled.headers["content-type"] == "application/problem+json"
        assert int(throttled.headers["retry-after"]) >= 1
        assert throttled.json()["title"] == "Trop de tentatives"
        page = await attacker.get(f"/desinscription?token={valid}", headers={"accept": "text/html"})
        assert page.status_code == 429 and "Réessayez dans" in page.text  # a French page in a browser
        # Another address is not held back by the first one's failures.
        assert (await neighbour.get(f"/desinscription?token={valid}")).status_code == 200


async def test_inbound_sms_needs_the_token_and_guessing_it_is_throttled(
    guarded: NotificationsService,
) -> None:
    stop = {"from": "+33700000002", "text": "STOP"}
    async with _client(guarded) as attacker, _client(guarded, NEIGHBOUR) as provider:
        for _ in range(3):
            guess = await attacker.post("/sms/inbound", json=stop, headers={"x-vocation-token": "guess"})
            assert guess.status_code == 401 and guess.json()["title"] == "Jeton manquant ou invalide"
        assert (await attacker.post("/sms/inbound", json=stop)).status_code == 429
        bearer = await provider.post(
            "/sms/inbound", json=stop, headers={"authorization": f"Bearer {INBOUND}"}
        )
        assert bearer.json() == {"status": "stopped"}


async def test_links_signed_before_a_rotation_still_unsubscribe(guarded: NotificationsService) -> None:
    async with _client(guarded, NEIGHBOUR) as client:
        for secret in (PREVIOUS, CURRENT):
            token = sign_unsubscribe(secret, "cand-rotated", Channel.EMAIL)
            done = await client.post(f"/desinscription?token={token}")
            assert done.status_code == 200 and "Vous êtes désinscrit(e)" in done.text
    # New links are `links` tokens under the link key (no `.`), and unsubscribe too; a secret no
    # longer active opens nothing.
    link = guarded.renderer.unsubscribe_url("cand-new-link")
    token = link.split("token=", 1)[1]
    checked = LinkSigner([LINK_KEY]).verify(token, action=Action.UNSUBSCRIBE_EMAIL)
    assert "." not in token and checked.valid and checked.link is not None
    assert checked.link.candidate_id == "cand-new-link"
    async with _client(guarded, NEIGHBOUR) as client:
        done = await client.post(f"/desinscription?token={token}")
        assert done.status_code == 200 and "Vous êtes désinscrit(e)" in done.text
        retired = sign_unsubscribe("a-secret-retired-long-ago-" + "y" * 32, "cand-rotated", Channel.EMAIL)
        assert (await client.post(f"/desinscription?token={retired}")).status_code == 400


async def test_smtp_refusal_naming_the_address_is_stored_and_published_redacted(harness: Harness) -> None:
    h = harness
    cand = h.id("cand")
    address = f"{cand}@exemple.fr"
    await h.register_contact(cand, channels=["email"])
    h.sink.refusals_for[address] = [f"550 5.1.1 <{address}>: user unknown ({phone_of(cand)})"]
    await h.publish(match(cand, h.id("vac")))
    await h.wait_rows(cand, 1)
    await h.drain()
    [row] = await h.rows(cand)
    assert row["state"] == "failed"
    assert row["last_error"] == "SMTP 550: 5.1.1 <[redacted]>: user unknown ([redacted])"
    [failed] = await read_events(h.bootstrap, Topic.NOTIFICATIONS, cand, expected=1)
    assert isinstance(failed.data, p.NotificationFailed)
    assert failed.data.error == row["last_error"]
