"""The delivery worker (`delivery.DeliveryWorker`) on the fake unit of work, senders and publisher:
what is sent, what is recorded and what is published, once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from vocation_notifications.adapters.templates import Renderer
from vocation_notifications.ports import DeliveryError, EmailMessage, RenderedEmail
from vocation_notifications.testing import (
    phone_of,
)
from vocation_notifications.testing.world import NOON, RENDERING, World
from vocation_shared.backoff import Backoff
from vocation_shared.contracts import events as ev
from vocation_shared.contracts.vocabulary import Channel, DigestMode, NotificationPurpose

pytestmark = pytest.mark.unit

RENDERER = Renderer(**RENDERING)


async def test_a_match_is_sent_on_both_channels_recorded_and_published_once() -> None:
    w = World()
    w.know("c1")
    await w.matched("c1", "o1")
    assert await w.worker.run_once() == 2
    assert [m.to for m in w.email.sent.values()] == ["c1@exemple.fr"]
    assert [m.to for m in w.sms.sent.values()] == [phone_of("c1")]
    assert {r["state"] for r in w.db.rows_of("c1")} == {"sent"}
    published = w.publisher.published
    assert [type(e) for e in published] == [ev.NotificationSent, ev.NotificationSent]
    assert w.db.events() == []  # published, then forgotten
    assert await w.worker.run_once() == 0 and len(w.publisher.published) == 2


async def test_a_refusal_is_retried_later_and_said_without_the_address() -> None:
    w = World()
    w.know("c1")
    w.email.refusals.append(DeliveryError("451 mailbox c1@exemple.fr busy", permanent=False))
    await w.matched("c1", "o1")
    await w.worker.run_once()
    [email_row] = [r for r in w.db.rows_of("c1") if r["channel"] == "email"]
    assert email_row["state"] == "pending" and email_row["not_before"] > NOON
    [failed] = [e for e in w.publisher.published if isinstance(e, ev.NotificationFailed)]
    assert not failed.data.permanent and "c1@exemple.fr" not in failed.data.error


async def test_the_daily_cap_holds_back_what_is_over_it() -> None:
    w = World()
    w.know("c1")
    await w.matched("c1", *(f"o{n}" for n in range(12)))
    for _ in range(5):
        await w.worker.run_once()
    assert len(w.email.sent) == 10 and len(w.sms.sent) == 3


async def test_an_sms_due_at_night_waits_for_the_window_while_the_email_goes() -> None:
    w = World()
    w.know("c1")
    await w.matched("c1", "o1")
    w.clock.set(datetime(2026, 11, 22, 22, 30, tzinfo=UTC))  # 23:30 in Paris
    assert await w.worker.run_once() == 1
    sms = w.row("c1", Channel.SMS)
    assert sms["state"] == "pending" and sms["not_before"] == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    assert w.sms.accepted == [] and len(w.email.accepted) == 1
    assert w.metrics.counts["outcome", "sms", "match", "deferred"] == 1


async def test_a_consent_withdrawn_after_planning_wins_at_send_time_and_is_said() -> None:
    w = World()
    w.know("c1")
    await w.matched("c1", "o1")
    w.db.contacts["c1"] = replace(
        w.db.contacts["c1"], channels=frozenset({Channel.EMAIL})
    )  # a STOP meanwhile
    await w.worker.run_once()
    assert (w.row("c1", Channel.SMS)["state"], w.row("c1", Channel.SMS)["why"]) == (
        "suppressed",
        "no_consent",
    )
    assert w.sms.accepted == []
    [suppressed] = [e for e in w.publisher.published if isinstance(e, ev.NotificationSuppressed)]
    assert (suppressed.data.channel, str(suppressed.data.why)) == ("sms", "no_consent")
    assert w.metrics.counts["outcome", "sms", "match", "suppressed"] == 1


async def test_a_permanent_refusal_fails_at_once_and_a_transient_one_gives_up_when_the_budget_is_spent() -> (
    None
):
    w = World(backoff=Backoff(5.0, 3600.0, max_attempts=2))
    w.know("c1")
    w.email.refusals.append(DeliveryError("550 5.1.1 user unknown", permanent=True))
    w.sms.refusals += [DeliveryError("provider timeout", permanent=False)] * 2
    await w.matched("c1", "o1")
    await w.worker.run_once()
    assert w.row("c1", Channel.EMAIL)["state"] == "failed"
    assert w.row("c1", Channel.SMS)["state"] == "pending"
    w.clock.set(w.row("c1", Channel.SMS)["not_before"])
    await w.worker.run_once()
    sms = w.row("c1", Channel.SMS)
    assert sms["state"] == "failed" and sms["last_error"].endswith("(gave up after 2 attempts)")
    failed = [e for e in w.publisher.published if isinstance(e, ev.NotificationFailed)]
    assert [(e.data.channel, e.data.permanent, e.data.attempts) for e in failed] == [
        ("email", True, 1),
        ("sms", False, 1),
        ("sms", True, 2),
    ]
    assert failed[1].data.next_attempt_at is not None and failed[2].data.next_attempt_at is None
    counted = {k: n for k, n in w.metrics.counts.items() if k[0] == "outcome"}
    assert counted == {
        ("outcome", "email", "match", "failed"): 1,
        ("outcome", "sms", "match", "retried"): 1,
        ("outcome", "sms", "match", "failed"): 1,
    }


async def test_after_a_crash_the_provider_is_asked_first_and_what_it_has_is_not_sent_again() -> None:
    w = World()
    w.know("c1", Channel.EMAIL)
    await w.matched("c1", "o1")
    [claimed] = await w.worker.claim()  # the worker dies after the provider accepted the message
    w.email.sent[claimed.row.id] = EmailMessage(claimed.row.id, "c1@exemple.fr", "sujet", "texte", "html")
    assert await w.worker.run_once() == 0  # its lease still runs: nobody touches the row
    w.clock.advance(seconds=121)
    assert await w.worker.run_once() == 1
    email = w.row("c1", Channel.EMAIL)
    assert (email["state"], email["attempts"]) == ("sent", 2)
    assert w.email.accepted == []  # asked, found, not sent again
    [sent] = w.publisher.published
    assert isinstance(sent, ev.NotificationSent) and sent.data.attempts == 2


class BrokenFor(Renderer):
    """The real templates, except that wording an email to `who` raises (a bug in a template)."""

    def __init__(self, who: str) -> None:
        super().__init__(**RENDERING)
        self.who = who

    def email(self, purpose: NotificationPurpose, payload: dict[str, Any], **fields: Any) -> RenderedEmail:
        if fields["recipient_id"] == self.who:
            raise KeyError("offer_title")
        return super().email(purpose, payload, **fields)


async def test_a_bug_wording_one_message_fails_it_for_good_and_the_others_go() -> None:
    w = World(renderer=BrokenFor("c2"))
    w.know("c1", Channel.EMAIL)
    w.know("c2", Channel.EMAIL)
    await w.matched("c1", "o1")
    await w.matched("c2", "o1")
    assert await w.worker.run_once() == 2
    assert w.row("c1", Channel.EMAIL)["state"] == "sent"
    broken = w.row("c2", Channel.EMAIL)
    assert (broken["state"], broken["last_error"]) == ("failed", "internal error: KeyError")
    [failed] = [e for e in w.publisher.published if isinstance(e, ev.NotificationFailed)]
    assert failed.data.permanent and failed.data.recipient_id == "c2"


async def test_matches_held_for_the_daily_digest_go_out_as_one_email_at_digest_time() -> None:
    w = World()
    w.know("c1", Channel.EMAIL, digest=DigestMode.DAILY)
    await w.matched("c1", "o1", "o2", "o3")
    assert await w.worker.run_once() == 0
    assert {r["state"] for r in w.db.rows_of("c1")} == {"held"}
    w.clock.set(datetime(2026, 11, 22, 17, 0, tzinfo=UTC))  # 18:00 in Paris
    assert await w.worker.run_once() == 1
    states = sorted((r["purpose"], r["state"]) for r in w.db.rows_of("c1"))
    assert states == [("digest", "sent")] + [("match", "digested")] * 3
    [mail] = w.email.sent.values()
    assert isinstance(mail, EmailMessage) and mail.to == "c1@exemple.fr"


async def test_the_queue_depth_and_every_provider_call_are_measured() -> None:
    w = World()
    w.know("c1")
    await w.matched("c1", "o1")
    await w.worker.update_depth()
    assert w.metrics.depth == {"pending": 2, "held": 0, "sending": 0}
    await w.worker.run_once()
    await w.worker.update_depth()
    assert w.metrics.depth == {"pending": 0, "held": 0, "sending": 0}
    assert sorted(str(channel) for channel, _ in w.metrics.durations) == ["email", "sms"]
