"""Against a real SMTP server, the SMS provider stub, Kafka and PostgreSQL: what is sent, to whom, once."""

from __future__ import annotations

import pytest
from vocation_local.answering import live_ready_metrics
from vocation_notifications.core.sms import SmsEncoding, size_of
from vocation_notifications.testing import (
    Harness,
    eventually,
    match,
    personal_links,
    phone_of,
    read_events,
    withdrawal,
)
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.topics import Topic
from vocation_shared.contracts.vocabulary import SuppressionReason
from vocation_shared.links import Action

pytestmark = pytest.mark.integration


async def test_match_is_emailed_and_texted_in_french_with_reasons_link_and_one_click_unsubscribe(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    h = harness
    cand = h.id("cand")
    await h.register_contact(cand)
    await h.publish(match(cand, h.id("vac")))
    await h.wait_rows(cand, 2)
    await h.drain()

    [mail] = h.sink.to(f"{cand}@exemple.fr")
    assert mail.message["Subject"] == "Nouvelle offre pour vous : Aide-soignant(e) de nuit à Bourg-en-Bresse"
    text, html = mail.part("plain"), mail.part("html")
    for body in (text, html):
        assert "EHPAD Les Tilleuls" in body
        assert "logement proposé" in body
        assert [x.target_id for x in personal_links(body)] == [h.id("vac")] * 3
        assert "https://notifications.vocation.test/desinscription?token=" in body
    assert "diplôme DEAS requis : vous l&#39;avez" in html  # autoescaped
    assert "à 12 km de chez vous" in text
    assert mail.message["List-Unsubscribe"].startswith(
        "<https://notifications.vocation.test/desinscription?token="
    )
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail.message_id.endswith("@notifications.vocation.example.fr>")

    [sms] = h.stub.to(phone_of(cand))
    assert sms.tag and "STOP au 38100" in sms.content
    assert "Bourg-en-Bresse" in sms.content
    assert [(x.action, x.target_id) for x in personal_links(sms.content)] == [
        (Action.VIEW_OFFER, h.id("vac"))
    ]
    size = size_of(sms.content)
    assert (size.encoding, size.segments) == (SmsEncoding.GSM7, 1)
    assert not sms.unicode

    outcomes = await read_events(h.bootstrap, Topic.NOTIFICATIONS, cand, expected=2)
    assert sorted(type(e).__name__ for e in outcomes) == ["NotificationSent", "NotificationSent"]
    assert {e.data.channel for e in outcomes} == {"email", "sms"}
    assert all(isinstance(e.data, p.NotificationSent) and e.data.about_id == h.id("vac") for e in outcomes)

    logged = capsys.readouterr()
    assert cand in logged.out + logged.err  # recipients are logged by id…
    for secret in (f"{cand}@exemple.fr", phone_of(cand), phone_of(cand).lstrip("+")):
        assert secret not in logged.out + logged.err  # …never by address or number


async def test_health_and_metrics_report_outcomes_by_channel_and_purpose(harness: Harness) -> None:
    h = harness
    cand = h.id("cand")
    await h.register_contact(cand, channels=["email"])
    await h.publish(match(cand, h.id("vac")))
    await h.wait_rows(cand, 1)
    await h.drain()
    await h.service.worker.update_depth()
    metrics = await live_ready_metrics(h.service.http)
    assert 'vocation_notifications_total{channel="email",outcome="sent",purpose="match"}' in metrics
    assert 'vocation_notifications_queue_depth{state="pending"}' in metrics
    assert 'vocation_notifications_send_seconds_count{channel="email"}' in metrics


async def test_match_redelivered_or_matched_again_is_sent_once(harness: Harness) -> None:
    h = harness
    cand = h.id("cand")
    await h.register_contact(cand, channels=["email"])
    first = match(cand, h.id("vac"))
    await h.publish(first, first, match(cand, h.id("vac"), offer_version=2, match_id=h.id("m2")))
    await h.wait_rows(cand, 1)
    await eventually(lambda: _processed(h, 3))
    await h.drain()
    assert len(h.sink.to(f"{cand}@exemple.fr")) == 1
    assert len(await h.rows(cand)) == 1


async def _processed(h: Harness, n: int) -> bool:
    count = await h.fetchval("SELECT count(*) FROM processed_events WHERE consumer LIKE '%matches'")
    return int(count) >= n - 1  # the duplicate has the same id


async def test_match_withdrawn_before_sending_is_suppressed_as_withdrawn(harness: Harness) -> None:
    h = harness
    cand = h.id("cand")
    await h.register_contact(cand)
    found = match(cand, h.id("vac"))
    await h.publish(found)
    await h.wait_rows(cand, 2)
    await h.publish(withdrawal(cand, h.id("vac"), reason="offer_filled"))
    await h.wait_rows(cand, 2, state="suppressed")
    await h.drain()
    assert h.sink.to(f"{cand}@exemple.fr") == [] and h.stub.to(phone_of(cand)) == []
    outcomes = await read_events(h.bootstrap, Topic.NOTIFICATIONS, cand, expected=2)
    assert [e.data.why for e in outcomes] == [SuppressionReason.WITHDRAWN] * 2
