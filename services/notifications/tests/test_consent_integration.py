"""STOP replies and the unsubscribe link publish consent-updated, and nothing more is sent on that channel."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from vocation_notifications.adapters.contact_cipher import ContactCipher, parse_keys
from vocation_notifications.adapters.postgres.unit_of_work import PostgresUnitsOfWork
from vocation_notifications.cli import reseal
from vocation_notifications.core.tokens import sign_unsubscribe
from vocation_notifications.ports import Contacts
from vocation_notifications.testing import (
    TEST_CONTACTS_KEYS,
    Harness,
    contact,
    eventually,
    match,
    phone_of,
    read_events,
)
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.topics import Topic

pytestmark = pytest.mark.integration


def _client(h: Harness) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=h.service.http), base_url="http://notifications"
    )


async def _email_is(h: Harness, cand: str, email: str) -> bool:
    async with h.service.units() as uow:
        stored = await uow.contacts.get(cand)
    return stored is not None and stored.email == email


async def _reseal_all(contacts: Contacts) -> int:
    """Reseal every contact, batch after batch; how many were."""
    resealed, after = 0, ""
    while after is not None:
        done, after = await contacts.reseal_batch(after)
        resealed += done
    return resealed


async def _channels_are(h: Harness, cand: str, *channels: str) -> bool:
    stored = await h.fetchval("SELECT channels FROM contacts WHERE candidate_id = $1", cand)
    return stored is not None and sorted(stored) == sorted(channels)


async def test_unsubscribe_link_shows_a_page_then_one_click_post_withdraws_email_consent(
    harness: Harness,
) -> None:
    h = harness
    cand = h.id("cand")
    await h.register_contact(cand)
    await h.publish(match(cand, h.id("vac1")))
    await h.wait_rows(cand, 2)
    await h.drain()
    [mail] = h.sink.to(f"{cand}@exemple.fr")
    url = mail.message["List-Unsubscribe"].strip("<>")
    path = url.removeprefix("https://notifications.vocation.test")

    async with _client(h) as client:
        page = await client.get(path)
        assert page.status_code == 200
        assert "Confirmer ma désinscription" in page.text and 'lang="fr"' in page.text
        assert await h.contact_version(cand) == 1  # a GET (link scanner) changes nothing
        done = await client.post(
            path,
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert done.status_code == 200 and "Vous ne recevrez plus d'e-mails de Vocation." in done.text
        again = await client.post(path, content=b"List-Unsubscribe=One-Click")
        assert again.status_code == 200
        forged = await client.post(
            "/desinscription?token=" + sign_unsubscribe("not-our-secret", cand, "email")
        )
        assert forged.status_code == 400 and "Lien invalide" in forged.text

    [updated] = [
        e
        for e in await read_events(h.bootstrap, Topic.CANDIDATE_CONTACTS, cand, expected=2)
        if e.type.endswith("consent.updated.v1")
    ]
    assert isinstance(updated.data, p.ConsentUpdated)
    assert updated.data.channels == ["sms"] and updated.data.version == 1  # the partner's version, kept
    assert (updated.data.change.channel, updated.data.change.consented, updated.data.change.origin) == (
        "email",
        False,
        "email_unsubscribe",
    )
    assert str(updated.data.email) == f"{cand}@exemple.fr"  # full state: compaction keeps the contact

    await h.publish(match(cand, h.id("vac2")))
    await h.wait_rows(cand, 3)
    await h.drain()
    assert len(h.sink.to(f"{cand}@exemple.fr")) == 1
    assert len(h.stub.to(phone_of(cand))) == 2


async def test_stop_reply_withdraws_sms_consent_and_no_sms_follows(harness: Harness) -> None:
    h = harness
    cand = h.id("cand")
    await h.register_contact(cand)
    await h.publish(match(cand, h.id("vac1")))
    await h.wait_rows(cand, 2)
    async with _client(h) as client:
        ignored = await client.post("/sms/inbound", json={"from": phone_of(cand), "text": "Merci !"})
        assert ignored.json() == {"status": "ignored"}
        stopped = await client.post(
            "/sms/inbound", json={"from": phone_of(cand).lstrip("+"), "text": " Stop "}
        )
        assert stopped.json() == {"status": "stopped"}
        unknown = await client.post("/sms/inbound", json={"from": "+33700000000", "text": "STOP"})
        assert unknown.json() == {"status": "stopped"}  # nothing to learn about who is known
        bad = await client.post("/sms/inbound", json={"text": "STOP"})
        assert bad.status_code == 422
    await eventually(lambda: _channels_are(h, cand, "email"))
    await h.drain()
    assert h.stub.to(phone_of(cand)) == []  # the pending SMS was not sent either
    assert len(h.sink.to(f"{cand}@exemple.fr")) == 1
    events = await read_events(h.bootstrap, Topic.CANDIDATE_CONTACTS, cand, expected=2)
    [updated] = [e for e in events if isinstance(e.data, p.ConsentUpdated)]
    assert updated.data.channels == ["email"] and updated.data.change.origin == "sms_stop"
    assert updated.data.phone == phone_of(cand)


async def test_contact_is_sealed_at_rest_and_after_a_key_rotation_still_found_by_its_phone(
    harness: Harness,
) -> None:
    h = harness
    cand = h.id("cand")
    await h.register_contact(cand, channels=["email", "sms"])
    stored = await h.service.pool.fetchrow(
        "SELECT email, phone, phone_index FROM contacts WHERE candidate_id = $1", cand
    )
    assert stored["email"].startswith("enc1:k1:") and "exemple.fr" not in stored["email"]
    assert phone_of(cand)[1:] not in stored["phone"] and phone_of(cand) != stored["phone_index"]
    # Rotation: a new key first, the old one kept to open; then everything resealed under the new one.
    old_keys = parse_keys(TEST_CONTACTS_KEYS)
    rotated = PostgresUnitsOfWork(h.service.pool, ContactCipher([("k2", b"2" * 32), *old_keys]))
    async with rotated() as uow:
        assert await uow.contacts.with_phone(phone_of(cand)) == [cand]
        assert await _reseal_all(uow.contacts) >= 1
        assert await _reseal_all(uow.contacts) == 0
        contact = await uow.contacts.get(cand)
        assert (
            contact is not None and contact.email == f"{cand}@exemple.fr" and contact.phone == phone_of(cand)
        )
        assert await uow.contacts.with_phone(phone_of(cand)) == [cand]
    resealed = await h.fetchval("SELECT email FROM contacts WHERE candidate_id = $1", cand)
    assert resealed.startswith("enc1:k2:")


async def test_contact_sealed_with_a_key_gone_from_the_settings_waits_and_stops_no_one_else(
    harness: Harness,
) -> None:
    h = harness
    stuck, other = h.id("stuck"), h.id("other")
    await h.register_contact(stuck, channels=["email"])
    await h.register_contact(other, channels=["email"])
    await h.publish(match(stuck, h.id("vac")), match(other, h.id("vac")))
    await h.wait_rows(stuck, 1)
    await h.wait_rows(other, 1)
    # Then, as if sealed with a key "k0" an operator has since removed from VOCATION_CONTACTS_KEYS
    # (a match planned from now on for that person goes to the dead letters, saying so).
    await h.fetchval(
        "UPDATE contacts SET email = 'enc1:k0:' || substr(email, 9) WHERE candidate_id = $1", stuck
    )
    await h.drain()
    assert len(h.sink.to(f"{other}@exemple.fr")) == 1
    [row] = await h.rows(stuck)
    assert row["state"] == "pending" and row["not_before"] > h.clock.now(), "kept for when the key is back"


async def test_operator_reseal_moves_every_contact_to_the_new_key_batch_by_batch(harness: Harness) -> None:
    h = harness
    cands = [h.id(f"cand{n}") for n in range(3)]
    for cand in cands:
        await h.register_contact(cand)
    new_key = "k2:" + base64.b64encode(b"2" * 32).decode()
    settings = h.service.settings.model_copy(
        update={"contacts_keys": SecretStr(f"{new_key},{TEST_CONTACTS_KEYS}")}
    )
    assert await reseal(settings) >= 3
    emails = [await h.fetchval("SELECT email FROM contacts WHERE candidate_id = $1", c) for c in cands]
    assert all(e.startswith("enc1:k2:") for e in emails)
    assert await reseal(settings) == 0


def _consent(cand: str, *, at: datetime, **fields: Any) -> ev.ConsentUpdated:
    """The candidate's own consent to SMS again, as a partner relays it."""
    state = contact(cand, **fields).model_dump()
    change = {"channel": "sms", "consented": True, "origin": "candidate", "at": at}
    data = p.ConsentUpdated.model_validate({**state, "change": change})
    return ev.ConsentUpdated.build(data, source="urn:test:partner")


async def test_an_sms_stop_sticks_until_the_candidate_consents_again_and_contact_changes_still_apply(
    harness: Harness,
) -> None:
    h = harness
    cand = h.id("cand")
    await h.register_contact(cand)
    async with _client(h) as client:
        stopped = await client.post("/sms/inbound", json={"from": phone_of(cand), "text": "STOP"})
        assert stopped.json() == {"status": "stopped"}
    await eventually(lambda: _channels_are(h, cand, "email"))

    # The partner registers the contact again: a new address, and "consent: email and SMS".
    new_email = f"{cand}.nouvelle@exemple.fr"
    again = contact(cand, version=2, email=new_email)
    await h.publish(ev.ContactRegistered.build(again, source="urn:test:partner"))
    await eventually(lambda: _email_is(h, cand, new_email), what="the partner's change applied")
    assert await h.contact_version(cand) == 2
    assert await _channels_are(h, cand, "email")  # its SMS claim is kept off
    kept = h.service.metrics.registry.get_sample_value(
        "vocation_notifications_opt_out_kept_total", {"channel": "sms"}
    )
    assert kept is not None and kept >= 1

    await h.publish(match(cand, h.id("vac1")))
    await h.wait_rows(cand, 1)
    await h.drain()
    assert h.stub.to(phone_of(cand)) == []  # still no SMS
    assert len(h.sink.to(new_email)) == 1 and h.sink.to(f"{cand}@exemple.fr") == []
    # The topic's newest record of the candidate (what compaction keeps) says the opt-out again.
    events = await read_events(h.bootstrap, Topic.CANDIDATE_CONTACTS, cand, expected=4)
    newest = events[-1]
    assert isinstance(newest.data, p.ConsentUpdated) and newest.source == h.service.settings.event_source
    assert (newest.data.version, str(newest.data.email), newest.data.channels) == (2, new_email, ["email"])
    assert (newest.data.change.channel, newest.data.change.origin) == ("sms", "sms_stop")

    # The candidate consents again, after the STOP: SMS allowed again.
    h.clock.advance(minutes=10)
    await h.publish(_consent(cand, at=h.clock.now(), version=3, email=new_email))
    await eventually(lambda: _channels_are(h, cand, "email", "sms"), what="SMS consented again")
    await h.publish(match(cand, h.id("vac2")))
    await h.wait_rows(cand, 3)
    await h.drain()
    assert len(h.stub.to(phone_of(cand))) == 1
    assert len(h.sink.to(new_email)) == 2


async def test_an_opt_out_restatement_not_published_yet_goes_with_an_erasure(harness: Harness) -> None:
    h = harness
    cand = h.id("cand")
    await h.register_contact(cand)
    async with _client(h) as client:
        await client.post("/sms/inbound", json={"from": phone_of(cand), "text": "STOP"})
    await eventually(lambda: _channels_are(h, cand, "email"))
    await h.publish(ev.ContactRegistered.build(contact(cand, version=2), source="urn:test:partner"))

    async def queued(count: int) -> bool:
        found = await h.fetchval("SELECT count(*) FROM outcome_events WHERE event->>'subject' = $1", cand)
        return bool(found == count)

    await eventually(lambda: queued(1), what="the opt-out restated, not published yet")
    await h.publisher.tombstone(Topic.CANDIDATE_CONTACTS, cand)
    await eventually(lambda: _version_gone(h, cand), what="contact erased")
    assert await queued(0)
    await h.drain()
    events = await read_events(h.bootstrap, Topic.CANDIDATE_CONTACTS, cand, expected=4, within_s=3)
    assert len(events) == 3 and not any(".opt-out." in e.id for e in events)


async def _version_gone(h: Harness, cand: str) -> bool:
    return await h.contact_version(cand) is None
