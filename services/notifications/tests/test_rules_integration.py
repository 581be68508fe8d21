"""Consent, erasure, SMS window, daily digest, caps, retries and permanent failures, with the real infrastructure."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import orjson
import pytest
from vocation_notifications.delivery import DeliveryWorker
from vocation_notifications.testing import (
    Harness,
    contact,
    eventually,
    match,
    personal_links,
    phone_of,
    read_events,
    read_values,
    withdrawal,
)
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.topics import Topic

pytestmark = pytest.mark.integration


async def test_only_consented_channels_are_planned(harness: Harness) -> None:
    h = harness
    cand = h.id("cand")
    await h.register_contact(cand, channels=["email"])
    await h.publish(match(cand, h.id("vac")))
    [row] = await h.wait_rows(cand, 1)
    assert row["channel"] == "email"
    await h.drain()
    assert len(h.sink.to(f"{cand}@exemple.fr")) == 1 and h.stub.to(phone_of(cand)) == []


async def test_consent_withdrawn_after_planning_wins_at_send_time(harness: Harness) -> None:
    h = harness
    cand = h.id("cand")
    registered = await h.register_contact(cand)
    await h.publish(match(cand, h.id("vac")))
    await h.wait_rows(cand, 2)
    change = p.ConsentChange(channel="sms", consented=False, origin="partner", at=h.clock.now())
    updated = p.ConsentUpdated.model_validate(
        {**registered.model_dump(), "channels": ["email"], "version": 2, "change": change}
    )
    await h.publish(ev.ConsentUpdated.build(updated, source="urn:test:partner"))
    await eventually(lambda: _version_is(h, cand, 2))
    await h.drain()
    assert len(h.sink.to(f"{cand}@exemple.fr")) == 1 and h.stub.to(phone_of(cand)) == []
    [sms_row] = [r for r in await h.rows(cand) if r["channel"] == "sms"]
    assert (sms_row["state"], sms_row["why"]) == ("suppressed", "no_consent")


async def _version_is(h: Harness, cand: str, version: int) -> bool:
    return await h.contact_version(cand) == version


async def test_erasure_deletes_the_contact_and_everything_pending(harness: Harness) -> None:
    h = harness
    cand = h.id("cand")
    await h.register_contact(cand, digest="daily")
    await h.publish(match(cand, h.id("vac")))
    await h.wait_rows(cand, 2, state="held")
    await h.publisher.tombstone(Topic.CANDIDATE_CONTACTS, cand)
    await eventually(lambda: _version_is(h, cand, None), what="contact erased")  # type: ignore[arg-type]
    assert await h.bare_rows(cand) == 0
    # Kept for at-most-once under their pseudonym, payloads emptied, no id of theirs left.
    rows = await h.rows(cand)
    assert len(rows) == 2
    assert {(r["state"], r["why"]) for r in rows} == {("suppressed", "erased")}
    assert all(r["payload"] == {} for r in rows)
    assert not [r for r in rows if cand in str(dict(r))]
    assert await h.fetchval("SELECT count(*) FROM processed_events WHERE event_id LIKE $1", f"%{cand}%") == 0
    await h.drain()
    values = await read_values(h.bootstrap, Topic.NOTIFICATIONS, cand, expected=3)
    assert [orjson.loads(v)["data"]["why"] if v else None for v in values] == ["erased", "erased", None]
    h.clock.set(datetime(2026, 11, 22, 17, 5, tzinfo=UTC))
    await h.drain()
    assert h.sink.to(f"{cand}@exemple.fr") == [] and h.stub.to(phone_of(cand)) == []


async def test_a_match_read_after_the_contacts_erasure_is_erased_at_the_tombstone_on_matches(
    harness: Harness,
) -> None:
    h = harness
    cand = h.id("cand")
    await h.register_contact(cand)
    await h.publisher.tombstone(Topic.CANDIDATE_CONTACTS, cand)
    await eventually(lambda: _version_is(h, cand, None), what="contact erased")  # type: ignore[arg-type]
    # The match was on `matches` before matching's tombstone, read after the contact's erasure.
    await h.publish(match(cand, h.id("vac")))
    await h.wait_rows(cand, 1)
    await h.publisher.tombstone(Topic.MATCHES, cand)
    await eventually(lambda: _no_rows(h, cand), what="the rows of the late match erased")
    await h.drain()
    values = await read_values(h.bootstrap, Topic.NOTIFICATIONS, cand, expected=99, within_s=3)
    assert values and values[-1] is None, "the notifications tombstone comes after their facts"
    # The tombstone is handled, never dead-lettered.
    assert await read_values(h.bootstrap, Topic.MATCHES.value + ".dlq", cand, expected=1, within_s=2) == []


async def _no_rows(h: Harness, recipient_id: str) -> bool:
    return await h.bare_rows(recipient_id) == 0


async def test_processed_marks_written_before_pseudonyms_are_rewritten(harness: Harness) -> None:
    h = harness
    legacy = f"found.vacancy.vac.v1.{h.id('cand')}"
    await h.service.pool.execute(
        "INSERT INTO processed_events (consumer, source, event_id) VALUES ('n-matches', 'urn:t', $1)", legacy
    )
    assert await h.service.pseudonymize_processed(chunk=1) >= 1
    assert await h.service.pseudonymize_processed() == 0
    assert await h.fetchval("SELECT count(*) FROM processed_events WHERE event_id = $1", legacy) == 0
    kept = h.service.handlers.processed_key(legacy)
    assert await h.fetchval("SELECT count(*) FROM processed_events WHERE event_id = $1", kept) == 1


async def test_sms_outside_the_window_is_deferred_to_the_next_opening_not_dropped(harness: Harness) -> None:
    h = harness
    cand = h.id("cand")
    h.clock.set(datetime(2026, 11, 22, 21, 45, tzinfo=UTC))  # 22:45 in Paris
    await h.register_contact(cand)
    await h.publish(match(cand, h.id("vac")))
    await h.wait_rows(cand, 2)
    await h.drain()
    assert len(h.sink.to(f"{cand}@exemple.fr")) == 1  # email has no window
    assert h.stub.to(phone_of(cand)) == []
    [sms_row] = [r for r in await h.rows(cand) if r["channel"] == "sms"]
    assert (sms_row["state"], sms_row["not_before"]) == ("pending", datetime(2026, 11, 23, 7, 0, tzinfo=UTC))
    h.clock.set(datetime(2026, 11, 23, 6, 59, tzinfo=UTC))
    await h.drain()
    assert h.stub.to(phone_of(cand)) == []
    h.clock.set(datetime(2026, 11, 23, 7, 0, tzinfo=UTC))  # 08:00 in Paris
    await h.drain()
    assert len(h.stub.to(phone_of(cand))) == 1


async def test_daily_digest_gathers_the_day_s_matches_at_the_digest_hour(harness: Harness) -> None:
    h = harness
    cand = h.id("cand")
    await h.register_contact(cand, digest="daily", channels=["email"])
    offers = [h.id(f"vac{n}") for n in range(3)]
    await h.publish(*(match(cand, o, score=70 + n, offer_title=f"Poste {n}") for n, o in enumerate(offers)))
    await h.wait_rows(cand, 3, state="held")
    await h.drain()
    assert h.sink.to(f"{cand}@exemple.fr") == []
    h.clock.set(datetime(2026, 11, 22, 17, 0, tzinfo=UTC))  # 18:00 in Paris
    await h.drain()
    [digest] = h.sink.to(f"{cand}@exemple.fr")
    assert digest.message["Subject"] == "3 nouvelles offres pour vous aujourd'hui"
    text = digest.part("plain")
    assert "du dimanche 22 novembre 2026" in text
    assert text.index("Poste 2") < text.index("Poste 1") < text.index("Poste 0")  # best first
    assert {link.target_id for link in personal_links(text)} == set(offers)
    states = sorted(r["state"] for r in await h.rows(cand))
    assert states == ["digested", "digested", "digested", "sent"]


async def test_offer_closed_after_the_digest_was_gathered_is_taken_out_before_it_is_sent(
    harness: Harness,
) -> None:
    h = harness
    cand = h.id("cand")
    await h.register_contact(cand, digest="daily", channels=["email"])
    found = [match(cand, h.id(f"vac{n}"), score=70 + n, offer_title=f"Poste {n}") for n in range(3)]
    await h.publish(*found)
    await h.wait_rows(cand, 3, state="held")
    h.clock.set(datetime(2026, 11, 22, 17, 0, tzinfo=UTC))  # 18:00 in Paris: the digest is gathered
    await h.service.worker.build_digests()
    await h.wait_rows(cand, 3, state="digested")
    await h.publish(withdrawal(cand, h.id("vac0")))  # closed between the gathering and the sending
    await h.wait_rows(cand, 1, state="suppressed")
    await h.drain()
    [digest] = h.sink.to(f"{cand}@exemple.fr")
    assert digest.message["Subject"] == "2 nouvelles offres pour vous aujourd'hui"
    text = digest.part("plain")
    assert "Poste 0" not in text and "Poste 1" in text and "Poste 2" in text


async def test_digest_whose_every_offer_closed_before_it_was_sent_is_not_sent(harness: Harness) -> None:
    h = harness
    cand = h.id("cand")
    await h.register_contact(cand, digest="daily", channels=["email"])
    found = [match(cand, h.id(f"vac{n}")) for n in range(2)]
    await h.publish(*found)
    await h.wait_rows(cand, 2, state="held")
    h.clock.set(datetime(2026, 11, 22, 17, 0, tzinfo=UTC))
    await h.service.worker.build_digests()
    await h.publish(*(withdrawal(cand, f.data.offer_id) for f in found))
    await h.wait_rows(cand, 3, state="suppressed")  # both matches and the digest itself
    await h.drain()
    assert h.sink.to(f"{cand}@exemple.fr") == []
    digest_row = next(r for r in await h.rows(cand) if r["purpose"] == "digest")
    assert (digest_row["state"], digest_row["why"]) == ("suppressed", "withdrawn")


async def test_daily_cap_suppresses_matches_beyond_it_but_not_confirmations(harness: Harness) -> None:
    h = harness
    cand = h.id("cand")
    await h.register_contact(cand, channels=["sms"])  # cap: 3 SMS a day
    await h.publish(*(match(cand, h.id(f"vac{n}")) for n in range(4)))
    await h.wait_rows(cand, 4)
    await h.drain()
    assert len(h.stub.to(phone_of(cand))) == 3
    assert sorted((r["state"], r["why"]) for r in await h.rows(cand)) == [
        ("sent", None),
        ("sent", None),
        ("sent", None),
        ("suppressed", "capped"),
    ]
    h.clock.set(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))  # a new day: the cap starts again
    await h.publish(match(cand, h.id("vac-next-day")))
    await h.wait_rows(cand, 5)
    await h.drain()
    assert len(h.stub.to(phone_of(cand))) == 4


async def test_smtp_4xx_is_retried_with_backoff_then_succeeds(harness: Harness) -> None:
    h = harness
    cand = h.id("cand")
    await h.register_contact(cand, channels=["email"])
    h.sink.refusals_for[f"{cand}@exemple.fr"] = ["451 4.3.0 Réessayez plus tard"]
    await h.publish(match(cand, h.id("vac")))
    await h.wait_rows(cand, 1)
    await h.drain()
    [row] = await h.rows(cand)
    assert (row["state"], row["attempts"]) == ("pending", 1)
    assert row["not_before"] > h.clock.now()
    h.clock.advance(minutes=1)
    await h.drain()
    [row] = await h.rows(cand)
    assert (row["state"], row["attempts"]) == ("sent", 2)
    assert len(h.sink.to(f"{cand}@exemple.fr")) == 1
    outcomes = await read_events(h.bootstrap, Topic.NOTIFICATIONS, cand, expected=2)
    failed, sent = outcomes
    assert isinstance(failed.data, p.NotificationFailed) and not failed.data.permanent
    assert failed.data.next_attempt_at is not None
    assert isinstance(sent.data, p.NotificationSent) and sent.data.attempts == 2


async def test_message_the_provider_accepted_just_before_a_crash_is_not_sent_again(harness: Harness) -> None:
    h = harness
    cand = h.id("cand")
    await h.register_contact(cand, channels=["email", "sms"])
    await h.publish(match(cand, h.id("vac")))
    await h.wait_rows(cand, 2)
    await h.drain()
    assert len(h.sink.to(f"{cand}@exemple.fr")) == 1 and len(h.stub.to(phone_of(cand))) == 1
    # What a kill -9 between the provider's acceptance and its record leaves behind: rows still
    # `sending`, and their lease (the dead worker's) running out.
    await h.fetchval(
        "UPDATE outbox SET state = 'sending', lease_until = $2 WHERE recipient_id = $1", cand, h.clock.now()
    )
    await h.drain()
    rows = await h.rows(cand)
    assert [(r["state"], r["attempts"]) for r in rows] == [("sent", 2), ("sent", 2)]
    assert len(h.sink.to(f"{cand}@exemple.fr")) == 1, "the activity log had it: the email is not sent again"
    assert len(h.stub.to(phone_of(cand))) == 1, "the provider had it: the SMS is not sent again"


async def test_message_interrupted_before_the_provider_accepted_it_is_sent_on_the_next_attempt(
    harness: Harness,
) -> None:
    h = harness
    cand = h.id("cand")
    await h.register_contact(cand, channels=["email"])
    await h.publish(match(cand, h.id("vac")))
    [row] = await h.wait_rows(cand, 1)
    # A worker claimed it, then died before the SMTP server had it.
    await h.fetchval(
        "UPDATE outbox SET state = 'sending', attempts = 1, lease_until = $2 WHERE id = $1",
        row["id"],
        h.clock.now(),
    )
    await h.drain()
    [row] = await h.rows(cand)
    assert (row["state"], row["attempts"]) == ("sent", 2)
    assert len(h.sink.to(f"{cand}@exemple.fr")) == 1


async def test_sms_429_honours_retry_after_then_500_backs_off_then_succeeds(harness: Harness) -> None:
    h = harness
    cand = h.id("cand")
    await h.register_contact(cand, channels=["sms"])
    h.stub.failures_for[phone_of(cand)] = [(429, "30"), (500, None)]
    await h.publish(match(cand, h.id("vac")))
    await h.wait_rows(cand, 1)
    await h.drain()
    [row] = await h.rows(cand)
    assert row["state"] == "pending" and (row["not_before"] - h.clock.now()).total_seconds() >= 30
    h.clock.advance(seconds=31)
    await h.drain()
    [row] = await h.rows(cand)
    assert (row["state"], row["attempts"]) == ("pending", 2)
    h.clock.advance(minutes=1)
    await h.drain()
    [row] = await h.rows(cand)
    assert (row["state"], row["attempts"]) == ("sent", 3)
    assert len(h.stub.to(phone_of(cand))) == 1


async def test_permanent_failures_are_marked_failed_and_published(harness: Harness) -> None:
    h = harness
    cand = h.id("cand")
    await h.register_contact(cand)
    h.sink.refusals_for[f"{cand}@exemple.fr"] = ["550 5.1.1 Adresse inconnue"]
    h.stub.failures_for[phone_of(cand)] = [(400, None)]
    await h.publish(match(cand, h.id("vac")))
    await h.wait_rows(cand, 2)
    await h.drain()
    assert {(r["channel"], r["state"]) for r in await h.rows(cand)} == {
        ("email", "failed"),
        ("sms", "failed"),
    }
    h.clock.advance(hours=2)
    await h.drain()
    assert h.sink.to(f"{cand}@exemple.fr") == [] and h.stub.to(phone_of(cand)) == []
    outcomes = await read_events(h.bootstrap, Topic.NOTIFICATIONS, cand, expected=2)
    assert all(isinstance(e.data, p.NotificationFailed) and e.data.permanent for e in outcomes)
    assert len(outcomes) == 2


async def test_unknown_contact_is_waited_for_then_suppressed(harness: Harness) -> None:
    h = harness
    cand = h.id("cand")
    late = h.id("late")
    await h.publish(match(cand, h.id("vac")), match(late, h.id("vac")))
    await h.wait_rows(cand, 2)
    await h.wait_rows(late, 2)
    await h.drain()
    await h.publish(ev.ContactRegistered.build(contact(late, channels=["email"]), source="urn:test:partner"))
    await eventually(lambda: _version_is(h, late, 1))
    h.clock.advance(seconds=61)
    await h.drain()
    assert {(r["state"], r["why"]) for r in await h.rows(cand)} == {("suppressed", "no_contact")}
    assert {(r["channel"], r["state"], r["why"]) for r in await h.rows(late)} == {
        ("email", "sent", None),
        ("sms", "suppressed", "no_consent"),
    }


async def test_two_workers_on_one_outbox_send_each_message_once_and_keep_the_caps(harness: Harness) -> None:
    h = harness
    service = h.service
    other = DeliveryWorker(
        units=service.units,
        facts=service.facts,
        renderer=service.renderer,
        email=service.email,
        sms=service.sms,
        relay=service.relay,
        clock=h.clock,
        policy=service.settings.policy(),
        backoff=service.settings.delivery_backoff(),
        metrics=service.metrics,
        batch=7,
    )
    candidates = [h.id(f"cand{n}") for n in range(3)]
    for cand in candidates:
        await h.register_contact(cand)
    await h.publish(*(match(c, h.id(f"vac{n}")) for c in candidates for n in range(12)))
    for cand in candidates:
        await h.wait_rows(cand, 24)
    for _ in range(30):
        done = await asyncio.gather(service.worker.run_once(), other.run_once())
        if sum(done) == 0:
            break
    for cand in candidates:
        mails = h.sink.to(f"{cand}@exemple.fr")
        assert len(mails) == 10 and len({m.message_id for m in mails}) == 10  # email cap: 10 a day
        assert len(h.stub.to(phone_of(cand))) == 3  # SMS cap: 3 a day
        states = Counter((r["channel"], r["state"]) for r in await h.rows(cand))
        assert states == {
            ("email", "sent"): 10,
            ("email", "suppressed"): 2,
            ("sms", "sent"): 3,
            ("sms", "suppressed"): 9,
        }
