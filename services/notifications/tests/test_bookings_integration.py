"""Immersion bookings: the candidate and the host tutor are told, the candidate is reminded the day before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from vocation_notifications.testing import Harness, eventually, phone_of
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.producers import Service
from vocation_shared.testing import samples

pytestmark = pytest.mark.integration

START = "2026-11-25"  # a Wednesday, three days after the harness's morning


def _site(h: Harness) -> tuple[p.Establishment, p.ImmersionSlot]:
    """An establishment with a host tutor, and the immersion slot it offers."""
    etab, slot = h.id("etab"), h.id("slot")
    ref = {"id": etab, "siret": samples.SIRET_EHPAD_BOURG, "name": "EHPAD Les Tilleuls", "kind": "ehpad"}
    establishment = p.Establishment.model_validate(
        {
            **ref,
            "commune_insee": samples.BOURG_EN_BRESSE,
            "address": "12 rue des Tilleuls",
            "immersion_contact_email": f"tuteur-{h.run}@ehpad-tilleuls.fr",
        }
    )
    offered = p.ImmersionSlot.model_validate(
        {
            "id": slot,
            "establishment": ref,
            "rome_code": "J1501",
            "title": "Découvrir le métier d'aide-soignant",
            "commune_insee": samples.BOURG_EN_BRESSE,
            "start_date": START,
            "end_date": "2026-11-27",
            "capacity": 2,
            "places_left": 2,
            "tutor_name": "Mme Martin",
        }
    )
    return establishment, offered


async def _stored(h: Harness, table: str, entity_id: str) -> None:
    async def found() -> bool:
        return bool(await h.fetchval(f"SELECT count(*) FROM {table} WHERE id = $1", entity_id))

    await eventually(found, what=f"{entity_id} in {table}")


async def _host_and_slot(h: Harness) -> tuple[str, str]:
    establishment, offered = _site(h)
    await h.publish(
        ev.EstablishmentRegistered.build(establishment, source="urn:test:catalogue"),
        ev.ImmersionSlotOffered.build(offered, source="urn:test:catalogue"),
    )
    await _stored(h, "establishments", establishment.id)
    await _stored(h, "immersion_slots", offered.id)
    return establishment.id, offered.id


def _request(h: Harness, slot: str, cand: str, **extra: Any) -> dict[str, Any]:
    return {
        "request_id": h.id("req"),
        "slot_id": slot,
        "candidate_id": cand,
        "start_date": START,
        "end_date": "2026-11-27",
        **extra,
    }


async def _book(h: Harness, slot: str, cand: str, etab: str) -> None:
    """Publish the booking of the last place of `slot` for `cand` at `etab`."""
    booked = p.ImmersionBooked.model_validate(_request(h, slot, cand, establishment_id=etab, places_left=1))
    await h.publish(ev.ImmersionBooked.build(booked, source=Service.CATALOGUE.source, time=h.clock.now()))


async def test_booking_confirms_to_candidate_and_host_tutor_then_reminds_the_day_before(
    harness: Harness,
) -> None:
    h = harness
    cand = h.id("cand")
    etab, slot = await _host_and_slot(h)
    await h.register_contact(cand, first_name="Camille")
    await _book(h, slot, cand, etab)
    await h.wait_rows(cand, 4)
    await h.wait_rows(etab, 1)
    await h.drain()

    [mail] = h.sink.to(f"{cand}@exemple.fr")
    assert mail.message["Subject"] == "Votre immersion est confirmée : Découvrir le métier d'aide-soignant"
    text = mail.part("plain")
    assert text.startswith("Bonjour Camille,")
    assert "Du mercredi 25 novembre 2026 au vendredi 27 novembre 2026" in text
    assert "Mme Martin" in text and "EHPAD Les Tilleuls" in text and "Bourg-en-Bresse" in text
    assert f"https://vocation.test/offres/{slot}" in text
    [sms] = h.stub.to(phone_of(cand))
    assert "immersion confirmée" in sms.content and "25/11" in sms.content and "STOP au" in sms.content

    [host] = h.sink.to(f"tuteur-{h.run}@ehpad-tilleuls.fr")
    assert host.message["Subject"].startswith("Immersion réservée du mercredi 25 novembre 2026")
    assert "Places restantes : 1" in host.part("plain") and h.id("req") in host.part("plain")
    assert "Camille a réservé une place en immersion" in host.part("plain"), "the host knows who comes"
    assert host.message["List-Unsubscribe"] is None  # a professional address, told about its own bookings

    reminders = [r for r in await h.rows(cand) if r["purpose"] == "immersion_reminder"]
    assert {r["state"] for r in reminders} == {"pending"}
    assert {r["not_before"] for r in reminders} == {datetime(2026, 11, 24, 9, 0, tzinfo=UTC)}  # 10:00 Paris

    h.clock.set(datetime(2026, 11, 24, 9, 0, 30, tzinfo=UTC))
    await h.drain()
    mails = h.sink.to(f"{cand}@exemple.fr")
    assert [m.message["Subject"] for m in mails][1] == "Rappel : votre immersion commence demain"
    assert "Vous serez accueilli(e) par Mme Martin." in mails[1].part("plain")
    assert "12 rue des Tilleuls" in mails[1].part("plain")
    assert "commence demain 25/11" in h.stub.to(phone_of(cand))[1].content


async def test_a_contact_update_after_the_booking_does_not_send_the_reminder_early(harness: Harness) -> None:
    h = harness
    cand = h.id("cand")
    etab, slot = await _host_and_slot(h)
    await h.register_contact(cand, channels=["email"])
    await _book(h, slot, cand, etab)
    await h.wait_rows(cand, 2)
    await h.drain()
    await h.register_contact(cand, channels=["email"], version=2)  # e.g. a new address
    await h.drain()
    subjects = [m.message["Subject"] for m in h.sink.to(f"{cand}@exemple.fr")]
    assert subjects == ["Votre immersion est confirmée : Découvrir le métier d'aide-soignant"]
    reminders = [r for r in await h.rows(cand) if r["purpose"] == "immersion_reminder"]
    assert [(r["state"], r["not_before"]) for r in reminders] == [
        ("pending", datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    ]


async def test_refusal_tells_the_candidate_why_in_plain_french(harness: Harness) -> None:
    h = harness
    cand = h.id("cand")
    _, slot = await _host_and_slot(h)
    await h.register_contact(cand, channels=["email"])
    refused = p.ImmersionRefused.model_validate(
        _request(h, slot, cand, reason="slot_full", message="Toutes les places sont prises cette semaine.")
    )
    await h.publish(ev.ImmersionRefused.build(refused, source=Service.CATALOGUE.source))
    await h.wait_rows(cand, 1)
    await h.drain()
    [mail] = h.sink.to(f"{cand}@exemple.fr")
    assert mail.message["Subject"] == "Votre demande d'immersion n'a pas pu être acceptée"
    assert "n'a pas pu être acceptée : toutes les places sont déjà prises." in mail.part("plain")
    assert "Toutes les places sont prises cette semaine." in mail.part("html")


async def test_cancelled_booking_withdraws_the_reminder(harness: Harness) -> None:
    h = harness
    cand = h.id("cand")
    etab, slot = await _host_and_slot(h)
    await h.register_contact(cand, channels=["email"])
    await _book(h, slot, cand, etab)
    await h.wait_rows(cand, 2)
    await h.drain()
    cancelled = p.ImmersionCancelled(
        request_id=h.id("req"), slot_id=slot, candidate_id=cand, cancelled_by="candidate"
    )
    await h.publish(ev.ImmersionCancelled.build(cancelled, source="urn:test:catalogue"))
    await h.wait_rows(cand, 1, purpose="immersion_reminder", state="suppressed")
    h.clock.set(datetime(2026, 11, 24, 9, 30, tzinfo=UTC))
    await h.drain()
    assert len(h.sink.to(f"{cand}@exemple.fr")) == 1  # the confirmation only


async def test_a_booking_too_old_to_tell_is_not_told(harness: Harness) -> None:
    """A replayed booking of long ago confirms nothing to anyone; the next booking is told as usual."""
    h = harness
    old_cand, cand = h.id("old-cand"), h.id("cand")
    etab, slot = await _host_and_slot(h)
    await h.register_contact(old_cand)
    await h.register_contact(cand)
    old = p.ImmersionBooked.model_validate(
        _request(h, slot, old_cand, establishment_id=etab, places_left=1) | {"request_id": h.id("old-req")}
    )
    await h.publish(
        ev.ImmersionBooked.build(old, source=Service.CATALOGUE.source, time=h.clock.now() - timedelta(days=8))
    )
    await _book(h, slot, cand, etab)  # same slot, same partition: read after the old one
    await h.wait_rows(cand, 4)
    assert await h.rows(old_cand) == []


async def _booked_before_its_slot(h: Harness) -> tuple[str, p.ImmersionSlot]:
    """A candidate (email) booked on a slot this service has not read; its establishment is known."""
    cand = h.id("cand")
    establishment, offered = _site(h)
    await h.publish(ev.EstablishmentRegistered.build(establishment, source="urn:test:catalogue"))
    await _stored(h, "establishments", establishment.id)
    await h.register_contact(cand, channels=["email"])
    await _book(h, offered.id, cand, establishment.id)
    await h.wait_rows(cand, 2)
    return cand, offered


async def test_a_booking_read_before_its_slot_waits_for_it_and_names_the_place(harness: Harness) -> None:
    """The slot is on another topic, which may lag (a restart): the confirmation waits a little for it."""
    h = harness
    cand, offered = await _booked_before_its_slot(h)
    await h.drain()
    assert h.sink.to(f"{cand}@exemple.fr") == [], "sent without knowing the place"

    await h.publish(ev.ImmersionSlotOffered.build(offered, source="urn:test:catalogue"))
    await _stored(h, "immersion_slots", offered.id)
    h.clock.advance(seconds=3)
    await h.drain()
    [mail] = h.sink.to(f"{cand}@exemple.fr")
    assert mail.message["Subject"] == "Votre immersion est confirmée : Découvrir le métier d'aide-soignant"
    assert "EHPAD Les Tilleuls, Bourg-en-Bresse" in mail.part("plain") and "Mme Martin" in mail.part("plain")
    [host] = h.sink.to(f"tuteur-{h.run}@ehpad-tilleuls.fr")
    assert host.message["Subject"].endswith(": Découvrir le métier d'aide-soignant")
    assert "Places restantes : 1" in host.part("plain")


async def test_a_booking_whose_slot_never_comes_is_confirmed_after_the_grace_all_the_same(
    harness: Harness,
) -> None:
    h = harness
    cand, _ = await _booked_before_its_slot(h)
    h.clock.advance(seconds=30)
    await h.drain()
    assert h.sink.to(f"{cand}@exemple.fr") == []

    h.clock.advance(seconds=31)  # the tests' grace is 60 s
    await h.drain()
    [mail] = h.sink.to(f"{cand}@exemple.fr")
    assert mail.message["Subject"] == "Votre immersion est confirmée : Immersion professionnelle"
    assert "Du mercredi 25 novembre 2026 au vendredi 27 novembre 2026" in mail.part("plain")
    [host] = h.sink.to(f"tuteur-{h.run}@ehpad-tilleuls.fr")
    assert "Places restantes : 1" in host.part("plain")


async def test_a_refusal_for_a_slot_that_does_not_exist_goes_at_once(harness: Harness) -> None:
    """The slot will never come: nothing to wait for."""
    h = harness
    cand = h.id("cand")
    await h.register_contact(cand, channels=["email"])
    refused = p.ImmersionRefused.model_validate(
        _request(h, h.id("no-such-slot"), cand, reason="slot_unknown", message="Ce créneau n'existe pas.")
    )
    await h.publish(ev.ImmersionRefused.build(refused, source=Service.CATALOGUE.source, time=h.clock.now()))
    await h.wait_rows(cand, 1)
    await h.drain()
    [mail] = h.sink.to(f"{cand}@exemple.fr")
    assert mail.message["Subject"] == "Votre demande d'immersion n'a pas pu être acceptée"
