"""Secrets that fail closed, two active signing secrets, the failure throttle, bounded bodies, redacted errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from vocation_notifications.adapters.public_http import BodyLimit
from vocation_notifications.adapters.smtp import SmtpEmailSender
from vocation_notifications.core.throttle import FailureThrottle, client_key, retry_after
from vocation_notifications.core.tokens import BadToken, sign_unsubscribe, verify_unsubscribe
from vocation_notifications.ports import DeliveryError, EmailMessage
from vocation_notifications.settings import DEFAULT_SECRET, NotificationsSettings
from vocation_notifications.testing import TEST_CONTACTS_KEYS, SmtpSink, smtp_server
from vocation_shared.contracts.vocabulary import Channel
from vocation_shared.links import DEVELOPMENT_LINK_KEY
from vocation_shared.pseudonyms import DEVELOPMENT_PSEUDONYM_KEY

pytestmark = pytest.mark.unit

GOOD = "Xq3v0b8kJm2Yt7Rw1Zp4Lc9Hs6Nd5Fe0Ga8Ub3Vi2Wo7Ex"  # 46 random characters
GOOD_OLD = "Ta9Kc2Lm7Pq4Rs1Vw8Xy3Zb6Dd0Ff5Gh2Jj9Kk4Ll1Mn"


GOOD_PSEUDONYM_KEY = "Pk7Rt2Wq9Zs4Lm1Xc8Vb3Nh6Jd0Fg5Ka2Yu7Ei4Op9Qw"
GOOD_LINK_KEY = "Lk4Tq8Wz1Rs6Mn3Xb9Vc2Hd7Jf0Gk5Pa8Yu1Ei6Or3Qs"


def _settings(**values: Any) -> NotificationsSettings:
    return NotificationsSettings(
        **{
            "signing_secret": GOOD,
            "contacts_keys": TEST_CONTACTS_KEYS,
            "pseudonym_key": GOOD_PSEUDONYM_KEY,
            "link_key": GOOD_LINK_KEY,
            **values,
        }
    )


def _problems(settings: NotificationsSettings) -> dict[str, str]:
    return {p.variable: p.line() for p in settings.secret_problems() if p is not None}


def test_good_secrets_have_no_problem() -> None:
    assert _problems(_settings()) == {}
    assert _problems(_settings(sms_provider="brevo", sms_inbound_token=GOOD_OLD)) == {}


@pytest.mark.parametrize("value", [DEFAULT_SECRET, "CHANGE-ME", "changeme", "s3cret-but-short"])
def test_a_public_placeholder_or_short_signing_secret_is_named_with_its_command(value: str) -> None:
    line = _problems(_settings(signing_secret=value))["VOCATION_SIGNING_SECRET"]
    assert "token_urlsafe" in line and value not in line


def test_empty_or_placeholder_contacts_keys_are_named_with_the_new_key_command() -> None:
    for keys in (None, "", "CHANGE-ME"):
        line = _problems(_settings(contacts_keys=keys))["VOCATION_CONTACTS_KEYS"]
        assert "contacts new-key" in line


def test_placeholder_contacts_keys_mean_no_keys_only_in_development_mode() -> None:
    assert _settings(contacts_keys="CHANGE-ME", dev_mode=True).contact_cipher() is not None
    with pytest.raises(ValueError, match="VOCATION_CONTACTS_KEYS is a placeholder"):
        _settings(contacts_keys="CHANGE-ME").contact_cipher()  # e.g. `contacts reseal`: never "in clear"
    with pytest.raises(ValueError, match="contact key"):
        _settings(contacts_keys="k1:not-a-key")  # a malformed key is an error, not a placeholder


def test_a_real_sms_provider_needs_a_strong_inbound_token() -> None:
    assert "VOCATION_SMS_INBOUND_TOKEN" in _problems(_settings(sms_provider="brevo"))
    assert "VOCATION_SMS_INBOUND_TOKEN" in _problems(_settings(sms_provider="brevo", sms_inbound_token="abc"))
    assert "VOCATION_SMS_INBOUND_TOKEN" not in _problems(_settings(sms_provider="sink"))


def test_the_public_pseudonym_key_is_refused() -> None:
    problems = _problems(_settings(pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY))
    assert list(problems) == ["VOCATION_PSEUDONYM_KEY"]


def test_the_public_link_key_is_refused_and_a_weak_previous_one_too() -> None:
    assert list(_problems(_settings(link_key=DEVELOPMENT_LINK_KEY))) == ["VOCATION_LINK_KEY"]
    weak_previous = _problems(_settings(link_key_previous="changeme"))
    assert list(weak_previous) == ["VOCATION_LINK_KEY_PREVIOUS"]


def test_a_weak_previous_signing_secret_is_refused_too() -> None:
    problems = _problems(_settings(signing_secret_previous="changeme"))
    assert list(problems) == ["VOCATION_SIGNING_SECRET_PREVIOUS"]


def test_links_signed_with_the_previous_secret_verify_new_ones_use_the_current() -> None:
    settings = _settings(signing_secret_previous=GOOD_OLD)
    assert settings.signing_secrets() == [GOOD, GOOD_OLD]
    old_link = sign_unsubscribe(GOOD_OLD, "cand-1", Channel.EMAIL)
    new_link = sign_unsubscribe(GOOD, "cand-1", Channel.EMAIL)
    assert verify_unsubscribe(settings.signing_secrets(), old_link) == ("cand-1", Channel.EMAIL)
    assert verify_unsubscribe(settings.signing_secrets(), new_link) == ("cand-1", Channel.EMAIL)
    with pytest.raises(BadToken):  # once the previous secret is retired, its links stop working
        verify_unsubscribe([GOOD], old_link)
    with pytest.raises(BadToken):
        verify_unsubscribe([], new_link)


def test_throttle_charges_failures_only_and_refills() -> None:
    throttle = FailureThrottle(per_minute=6, burst=3)
    for _ in range(3):
        assert throttle.wait("203.0.113.5", 0.0) == 0.0
        throttle.failed("203.0.113.5", 0.0)
    assert throttle.wait("203.0.113.5", 0.0) == pytest.approx(10.0)
    assert retry_after(throttle.wait("203.0.113.5", 0.0)) == "10"
    assert throttle.wait("203.0.113.6", 0.0) == 0.0  # another address is not concerned
    assert throttle.wait("203.0.113.5", 10.0) == 0.0  # one failure's worth refilled


def test_throttle_counts_an_ipv6_subscriber_by_its_64_and_stays_bounded() -> None:
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_key("::ffff:198.51.100.1") == "198.51.100.1"
    throttle = FailureThrottle(per_minute=1, burst=1, max_addresses=100)
    throttle.failed("198.51.100.1", 0.0)
    for i in range(10_000):  # a flood of random addresses
        throttle.failed(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", 1.0)
    assert len(throttle) == 100
    assert throttle.wait("198.51.100.1", 1.0) == 0.0  # evicted: back to a full bucket, as a new address


async def _echo(scope: Scope, receive: Receive, send: Send) -> None:
    body = await Request(scope, receive).body()
    await PlainTextResponse(str(len(body)))(scope, receive, send)


def _limited() -> httpx.AsyncClient:
    app = BodyLimit(_echo, paths={"/desinscription"}, limit=16 * 1024)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n")


async def test_body_limit_refuses_a_declared_large_body_with_a_french_problem() -> None:
    async with _limited() as client:
        small = await client.post("/desinscription", content=b"x" * 16 * 1024)
        assert (small.status_code, small.text) == (200, str(16 * 1024))
        large = await client.post("/desinscription", content=b"x" * (16 * 1024 + 1))
        assert large.status_code == 413
        assert large.headers["content-type"] == "application/problem+json"
        assert large.json()["title"] == "Requête trop volumineuse" and large.json()["status"] == 413
        browser = await client.post("/desinscription", content=b"x" * 20_000, headers={"accept": "text/html"})
        assert browser.status_code == 413 and 'lang="fr"' in browser.text
        other = await client.post("/ailleurs", content=b"x" * 20_000)
        assert other.text == "20000"  # only the public paths are bounded


async def test_body_limit_stops_reading_a_streamed_body_past_the_limit() -> None:
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(10_000):  # 10 MB, never declared
            pulled += 1
            yield b"x" * 1024

    async with _limited() as client:
        answer = await client.post("/desinscription", content=endless())
    assert answer.status_code == 413
    assert pulled <= 18  # 16 KiB and the chunk that went over, not 10 MB


def test_problem_body_is_french_json() -> None:
    from vocation_notifications.adapters.public_http import problem

    response: Response = problem(429, "too-many-requests", "Trop de tentatives", "Réessayez.")
    assert json.loads(bytes(response.body)) == {
        "type": "urn:vocation:problem:too-many-requests",
        "title": "Trop de tentatives",
        "status": 429,
        "detail": "Réessayez.",
    }


async def test_smtp_refusal_text_is_redacted_before_it_leaves_the_adapter() -> None:
    sink = SmtpSink()
    sink.refusals.append("550 5.1.1 <marie.dupont@example.fr>: user unknown, call +33 6 12 34 56 78")
    with smtp_server(sink) as (_, port):
        sender = SmtpEmailSender("127.0.0.1", port, sender="v@vocation.fr", message_id_domain="vocation.fr")
        message = EmailMessage("n-1", "marie.dupont@example.fr", "Sujet", "texte", "<p>texte</p>", {})
        with pytest.raises(DeliveryError) as refused:
            await sender.send(message)
        await sender.aclose()
    text = str(refused.value)
    assert text.startswith("SMTP 550: 5.1.1 <[redacted]>: user unknown")
    assert "marie" not in text and "12 34" not in text and refused.value.permanent


async def test_any_other_error_of_the_service_is_in_french_a_page_for_a_browser() -> None:
    from vocation_notifications.adapters.public_http import render_problem
    from vocation_shared.http import create_app

    app = create_app(
        title="t",
        description="d",
        distribution="vocation-notifications",
        language="fr",
        render=render_problem,
    )

    @app.post("/desinscription")
    async def unsubscribe() -> None:
        return None

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://n") as client:
        program = await client.get("/desinscriptoin")
        browser = await client.get("/desinscriptoin", headers={"Accept": "text/html"})
        method = await client.put("/desinscription")
    assert program.status_code == 404
    assert program.headers["content-type"] == "application/problem+json"
    assert program.json()["type"] == "urn:vocation:problem:not-found"
    assert program.json()["title"] == "Page introuvable"
    assert browser.status_code == 404 and browser.headers["content-type"].startswith("text/html")
    assert "Page introuvable" in browser.text and "lien" in browser.text
    assert (method.status_code, method.json()["title"]) == (405, "Méthode non autorisée")
