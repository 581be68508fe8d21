"""The wire form of emails, the providers' Retry-After and event lists, the SMS sink, the Prometheus
metrics, without a network."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from vocation_notifications.adapters.metrics import PrometheusMetrics
from vocation_notifications.adapters.provider_http import parse_retry_after, provider_events
from vocation_notifications.adapters.sms import LocalSmsSink
from vocation_notifications.adapters.smtp import Recipient, message_id, render_mime, smtp_recipient
from vocation_notifications.ports import DeliveryError, EmailMessage, Metrics, SmsMessage
from vocation_notifications.testing import FakeMetrics
from vocation_shared.contracts.vocabulary import Channel, ConsentOrigin, NotificationPurpose

pytestmark = pytest.mark.unit


def _parse(raw: bytes) -> email.message.EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def test_email_wire_form_is_multipart_text_then_html_with_french_subject_and_one_click_headers() -> None:
    subject = "Nouvelle offre pour vous : Aide-soignant(e) de nuit à Bourg-en-Bresse, logement proposé et très bien situé"
    message = EmailMessage(
        "n-1",
        "camille@exemple.fr",
        subject,
        "Bonjour,\nUne offre à 12 km.\n",
        "<p>Bonjour, une offre à 12 km.</p>",
        {
            "List-Unsubscribe": "<https://x.fr/desinscription?token=a.b>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    raw = render_mime(message, sender="Vocation <notifications@vocation.fr>", domain="vocation.fr")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n")) and raw.isascii()
    parsed = _parse(raw)
    assert parsed["Subject"] == subject
    assert parsed["Message-ID"] == message_id("n-1", "vocation.fr") == "<n-1@vocation.fr>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed.get_content_type() == "multipart/alternative"
    parts = [p for p in parsed.walk() if not p.is_multipart()]
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content() == "Bonjour,\nUne offre à 12 km.\n"


def test_line_breaks_in_a_header_value_cannot_inject_headers() -> None:
    message = EmailMessage("n-2", "a@exemple.fr", "Offre\r\nBcc: victime@exemple.fr", "t", "<p>h</p>")
    parsed = _parse(render_mime(message, sender="V <v@v.fr>", domain="v.fr"))
    assert parsed["Bcc"] is None and parsed["Subject"] == "Offre Bcc: victime@exemple.fr"


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    assert parse_retry_after("30") == 30
    assert parse_retry_after("Sun, 22 Nov 2026 09:01:00 GMT", now) == 60
    assert parse_retry_after("Sun, 22 Nov 2026 08:00:00 GMT", now) == 0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None


async def test_local_sms_sink_keeps_messages_and_finds_them_again(tmp_path: Path) -> None:
    sink = LocalSmsSink(tmp_path / "sms.jsonl")
    receipt = await sink.send(SmsMessage("n-3", "+33612345678", "Vocation : test STOP au 38100"))
    assert await sink.lookup("n-3") == receipt and await sink.lookup("other") is None
    assert (
        json.loads((tmp_path / "sms.jsonl").read_text(encoding="utf-8"))["text"]
        == "Vocation : test STOP au 38100"
    )


async def test_local_sms_sink_restarted_still_knows_what_it_stored(tmp_path: Path) -> None:
    await LocalSmsSink(tmp_path / "sms.jsonl").send(SmsMessage("n-4", "+33612345678", "Vocation : test"))
    restarted = LocalSmsSink(tmp_path / "sms.jsonl")
    assert await restarted.lookup("n-4") is not None and await restarted.lookup("n-5") is None


async def test_a_provider_that_cannot_tell_is_never_taken_for_one_that_has_nothing() -> None:
    answers = {
        "/none": httpx.Response(200, json={}),
        "/one": httpx.Response(200, json={"events": [{"messageId": "<n-1@x>", "event": "requests"}]}),
        "/html": httpx.Response(200, text="<html>maintenance</html>"),
        "/busy": httpx.Response(429, headers={"Retry-After": "20"}),
        "/odd": httpx.Response(200, json={"events": "none"}),
    }
    transport = httpx.MockTransport(lambda request: answers[request.url.path])
    async with httpx.AsyncClient(transport=transport, base_url="http://provider") as client:
        assert await provider_events(client, "/none", {}, "email provider") == []
        assert len(await provider_events(client, "/one", {}, "email provider")) == 1
        for path in ("/html", "/busy", "/odd"):
            with pytest.raises(DeliveryError) as caught:
                await provider_events(client, path, {}, "email provider")
            assert not caught.value.permanent
        with pytest.raises(DeliveryError) as caught:
            await provider_events(client, "/busy", {}, "email provider")
        assert caught.value.retry_after_s == 20


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("camille@exemple.fr", Recipient("camille@exemple.fr", smtputf8=False)),
        ("lea@exemple-école.fr", Recipient("lea@xn--exemple-cole-ieb.fr", smtputf8=False)),
        ("léa@exemple-école.fr", Recipient("léa@xn--exemple-cole-ieb.fr", smtputf8=True)),
        ("ivan@пример.рф", Recipient("ivan@xn--e1afmkfd.xn--p1ai", smtputf8=False)),
        ("x@straße.de", Recipient("x@xn--strae-oqa.de", smtputf8=False)),  # IDNA 2008, not "strasse"
    ],
)
def test_smtp_recipients_have_their_domain_idna_encoded(address: str, expected: Recipient) -> None:
    assert smtp_recipient(address) == expected


def test_a_domain_idna_refuses_is_a_permanent_failure_without_the_address() -> None:
    with pytest.raises(DeliveryError) as refused:
        smtp_recipient("léa@exemple..école.fr")
    assert refused.value.permanent and "léa" not in str(refused.value)


def test_wire_form_to_a_unicode_local_part_is_utf8_and_ascii_otherwise() -> None:
    message = EmailMessage("n-1", "léa@exemple-école.fr", "Offre", "Bonjour", "<p>Bonjour</p>")
    ascii_to = render_mime(message, sender="V <v@v.fr>", domain="v.fr", to="lea@xn--exemple-cole-ieb.fr")
    assert ascii_to.isascii() and _parse(ascii_to)["To"] == "lea@xn--exemple-cole-ieb.fr"
    utf8_to = render_mime(message, sender="V <v@v.fr>", domain="v.fr", to="léa@xn--exemple-cole-ieb.fr")
    assert "To: léa@xn--exemple-cole-ieb.fr\r\n".encode() in utf8_to


def _count_a_little_of_everything(metrics: Metrics) -> None:
    metrics.outcome(Channel.EMAIL, NotificationPurpose.MATCH, "sent")
    metrics.outcome(Channel.EMAIL, NotificationPurpose.MATCH, "sent")
    metrics.queue_depth("pending", 7)
    metrics.send_duration(Channel.SMS, 0.2)
    metrics.too_old("booking", 3)
    metrics.consent_withdrawn(ConsentOrigin.SMS_STOP)
    metrics.opt_out_kept(Channel.SMS)


def test_prometheus_metrics_count_what_the_fake_counts_under_the_service_prefix() -> None:
    fake, prometheus = FakeMetrics(), PrometheusMetrics()
    _count_a_little_of_everything(fake)
    _count_a_little_of_everything(prometheus)
    sample = prometheus.registry.get_sample_value
    expected = {
        ("vocation_notifications_total", ("channel", "email"), ("purpose", "match"), ("outcome", "sent")): (
            fake.counts["outcome", "email", "match", "sent"]
        ),
        ("vocation_notifications_queue_depth", ("state", "pending")): fake.depth["pending"],
        ("vocation_notifications_send_seconds_count", ("channel", "sms")): len(fake.durations),
        ("vocation_notifications_last_send_seconds", ("channel", "sms")): fake.durations[-1][1],
        ("vocation_notifications_facts_too_old_total", ("kind", "booking")): fake.counts[
            "too_old", "booking"
        ],
        ("vocation_notifications_consent_withdrawals_total", ("origin", "sms_stop")): (
            fake.counts["consent_withdrawn", "sms_stop"]
        ),
        ("vocation_notifications_opt_out_kept_total", ("channel", "sms")): fake.counts["opt_out_kept", "sms"],
    }
    for (name, *labels), value in expected.items():
        assert sample(name, dict(labels)) == value, name
    names = {sample.name for family in prometheus.registry.collect() for sample in family.samples}
    assert names and all(name.startswith("vocation_notifications_") for name in names)
