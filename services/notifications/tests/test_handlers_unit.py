"""The application layer (`handlers.Handlers`) on the fake unit of work: what a match, a booking, a
consent change and an erasure do to the contacts, the outbox and the facts to publish."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from vocation_notifications.core.facts import OutcomeEvents
from vocation_notifications.core.model import Contact
from vocation_notifications.core.policy import Policy
from vocation_notifications.handlers import Handlers
from vocation_notifications.testing import (
    FakeClock,
    FakeDatabase,
    FakeMetrics,
    FakePublisher,
    FakeUnitsOfWork,
    contact,
    match,
    phone_of,
    withdrawal,
)
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.producers import Service
from vocation_shared.contracts.vocabulary import Channel, ConsentOrigin
from vocation_shared.facts import Tombstone
from vocation_shared.pseudonyms import DEVELOPMENT_PSEUDONYM_KEY, Pseudonymizer
from vocation_shared.testing import samples

pytestmark = pytest.mark.unit
PSEUDONYMS = Pseudonymizer(DEVELOPMENT_PSEUDONYM_KEY)
WHO = "erased-person"
"""An erased candidate's id: no hex pseudonym or uuid can contain it by chance."""

NOON = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)
SOURCE = "urn:vocation:notifications"


def _handlers(
    db: FakeDatabase,
    publisher: FakePublisher | None = None,
    metrics: FakeMetrics | None = None,
    woken: list[int] | None = None,
) -> Handlers:
    return Handlers(
        FakeUnitsOfWork(db),
        OutcomeEvents(SOURCE),
        FakeClock(NOON),
        Policy(),
        "notif",
        metrics=metrics or FakeMetrics(),
        publisher=publisher or FakePublisher(),
        on_planned=(lambda: woken.append(1)) if woken is not None else None,
    )


def _known(db: FakeDatabase, cid: str, *channels: Channel, **fields: Any) -> Contact:
    stored = Contact(
        cid, f"{cid}@exemple.fr", phone_of(cid), frozenset(channels or (Channel.EMAIL, Channel.SMS)), **fields
    )
    db.contacts[cid] = stored
    db.claimed[cid] = stored.channels
    return stored


def _states(db: FakeDatabase, recipient: str) -> set[tuple[str, str, str, str | None]]:
    return {(r["channel"], r["purpose"], r["state"], r["why"]) for r in db.rows_of(recipient)}


async def test_a_match_plans_one_row_per_consented_channel_and_a_replay_plans_nothing() -> None:
    db = FakeDatabase()
    _known(db, "c1", Channel.EMAIL)
    found = match("c1", "o1").model_copy(update={"time": NOON})
    await _handlers(db).on_matches([found])
    assert _states(db, "c1") == {("email", "match", "pending", None)}
    assert db.events() == [] and db.commits == 1
    await _handlers(db).on_matches([found])  # the same event again: processed already
    assert len(db.rows_of("c1")) == 1


async def test_a_match_for_someone_who_said_no_is_suppressed_and_says_so() -> None:
    db = FakeDatabase()
    _known(db, "c1", Channel.EMAIL)
    db.contacts["c1"] = Contact("c1", "c1@exemple.fr", None, frozenset())
    await _handlers(db).on_matches([match("c1", "o1").model_copy(update={"time": NOON})])
    [fact] = db.events()
    assert isinstance(fact, ev.NotificationSuppressed)
    assert (fact.data.recipient_id, str(fact.data.why)) == ("c1", "no_consent")


def _site() -> tuple[p.Establishment, p.ImmersionSlot]:
    ref = {"id": "etab", "siret": samples.SIRET_EHPAD_BOURG, "name": "EHPAD Les Tilleuls", "kind": "ehpad"}
    establishment = p.Establishment.model_validate(
        {
            **ref,
            "commune_insee": samples.BOURG_EN_BRESSE,
            "address": "12 rue des Tilleuls",
            "immersion_contact_email": "tuteur@ehpad-tilleuls.fr",
        }
    )
    slot = p.ImmersionSlot.model_validate(
        {
            "id": "slot",
            "establishment": ref,
            "rome_code": "J1501",
            "title": "Découvrir le métier d'aide-soignant",
            "commune_insee": samples.BOURG_EN_BRESSE,
            "start_date": "2026-11-25",
            "end_date": "2026-11-27",
            "capacity": 2,
            "places_left": 2,
            "tutor_name": "Mme Martin",
        }
    )
    return establishment, slot


def _request(**extra: Any) -> dict[str, Any]:
    return {
        "request_id": "req",
        "slot_id": "slot",
        "candidate_id": "c1",
        "start_date": "2026-11-25",
        "end_date": "2026-11-27",
        **extra,
    }


async def test_a_booking_tells_the_candidate_and_the_host_reminds_later_and_a_cancellation_withdraws() -> (
    None
):
    db = FakeDatabase()
    _known(db, "c1", Channel.EMAIL)
    handlers = _handlers(db)
    establishment, slot = _site()
    await handlers.on_establishments([ev.EstablishmentRegistered.build(establishment, source="urn:test")])
    await handlers.on_slots([ev.ImmersionSlotOffered.build(slot, source="urn:test")])
    booked = p.ImmersionBooked.model_validate(_request(establishment_id="etab", places_left=1))
    await handlers.on_bookings([ev.ImmersionBooked.build(booked, source=Service.CATALOGUE.source, time=NOON)])
    candidate = {(purpose, state) for _, purpose, state, _ in _states(db, "c1")}
    assert candidate == {("immersion_booked", "pending"), ("immersion_reminder", "pending")}
    assert _states(db, "etab") == {("email", "immersion_booked_host", "pending", None)}
    [told] = [r for r in db.rows_of("c1") if r["purpose"] == "immersion_booked"]
    assert told["payload"]["slot"]["address"] == "12 rue des Tilleuls"
    cancelled = p.ImmersionCancelled(
        request_id="req", slot_id="slot", candidate_id="c1", cancelled_by="candidate"
    )
    await handlers.on_bookings([ev.ImmersionCancelled.build(cancelled, source=Service.CATALOGUE.source)])
    assert {r["why"] for r in db.rows_of("c1")} | {r["why"] for r in db.rows_of("etab")} == {"withdrawn"}
    withdrawn = [e for e in db.events() if isinstance(e, ev.NotificationSuppressed)]
    assert len(withdrawn) == 3 and {str(e.data.why) for e in withdrawn} == {"withdrawn"}


async def test_a_stop_reply_publishes_the_opt_out_first_then_keeps_sms_off_against_a_partner() -> None:
    db = FakeDatabase()
    _known(db, "c1", version=3)
    publisher = FakePublisher()
    handlers = _handlers(db, publisher)
    assert await handlers.stop_reply(phone_of("c1")) == 1
    [published] = publisher.published
    assert isinstance(published, ev.ConsentUpdated) and published.source == SOURCE
    assert (published.data.version, published.data.channels) == (3, ["email"])
    assert db.contacts["c1"].channels == {Channel.EMAIL}
    assert not await handlers.withdraw("c1", Channel.SMS, ConsentOrigin.SMS_STOP)  # nothing more to do
    # A partner's newer state claims SMS back: its changes apply, SMS stays off, the opt-out is restated.
    claim = contact("c1", version=4, email="lea@exemple.fr")
    await handlers.on_contacts([ev.ContactRegistered.build(claim, source="urn:test:partner", id="r4")])
    assert db.contacts["c1"].email == "lea@exemple.fr" and db.contacts["c1"].channels == {Channel.EMAIL}
    [restated] = db.events()
    assert isinstance(restated, ev.ConsentUpdated) and restated.data.version == 4


async def test_an_erasure_forgets_the_contact_and_suppresses_what_was_still_to_send() -> None:
    db = FakeDatabase()
    _known(db, WHO)
    handlers = _handlers(db)
    await handlers.on_matches([match(WHO, "o1").model_copy(update={"time": NOON})])
    await handlers.stop_reply(phone_of(WHO))
    claim = contact(WHO, version=2)
    await handlers.on_contacts([ev.ContactRegistered.build(claim, source="urn:test:partner", id="r2")])
    assert any(isinstance(e, ev.ConsentUpdated) for e in db.events())  # a restatement, not published yet
    await handlers.on_contact_erased(WHO)
    assert WHO not in db.contacts and not [k for k in db.suppressions if k[0] == WHO]
    assert db.rows_of(WHO) == []  # kept, for at-most-once, under the pseudonym only
    kept = db.rows_of(PSEUDONYMS.candidate(WHO))
    assert {(r["state"], r["why"]) for r in kept} == {("suppressed", "erased")}
    assert all(r["payload"] == {} for r in kept) and WHO not in str(kept)
    facts = db.events()
    assert not any(isinstance(e, ev.ConsentUpdated) for e in facts)  # it would bring the person back
    assert {str(e.data.why) for e in facts if isinstance(e, ev.NotificationSuppressed)} == {"erased"}
    # The tombstone of `notifications` comes after the facts about them.
    assert isinstance(db.queued[-1][1], Tombstone) and db.queued[-1][1].key == WHO
    assert not any(WHO in key for _, _, key in db.processed)  # processed marks keep pseudonyms


async def test_a_batch_that_fails_is_not_marked_processed_so_its_redelivery_applies() -> None:
    db = FakeDatabase()
    _known(db, "c1", Channel.EMAIL)
    units = FakeUnitsOfWork(db)
    handlers = Handlers(
        units, OutcomeEvents(SOURCE), FakeClock(NOON), Policy(), "notif", metrics=FakeMetrics()
    )
    found = match("c1", "o1").model_copy(update={"time": NOON})
    db.failing_commits.append(ConnectionError("database gone"))
    with pytest.raises(ConnectionError):
        await handlers.on_matches([found])
    assert db.processed == set() and db.rows_of("c1") == []
    await handlers.on_matches([found])
    assert _states(db, "c1") == {("email", "match", "pending", None)}


async def test_a_match_too_old_to_tell_plans_nothing_and_is_counted_but_a_withdrawal_still_applies() -> None:
    db, metrics = FakeDatabase(), FakeMetrics()
    _known(db, "c1", Channel.EMAIL)
    handlers = _handlers(db, metrics=metrics)
    await handlers.on_matches([match("c1", "o1").model_copy(update={"time": NOON})])
    last_week = match("c1", "o2").model_copy(update={"time": NOON - timedelta(days=8)})
    await handlers.on_matches([last_week, withdrawal("c1", "o1")])
    assert _states(db, "c1") == {("email", "match", "suppressed", "withdrawn")}  # o2 never planned
    assert metrics.counts["too_old", "match"] == 1


async def test_a_refusal_tells_the_candidate_why_and_a_booking_too_old_tells_no_one() -> None:
    db, metrics = FakeDatabase(), FakeMetrics()
    _known(db, "c1", Channel.EMAIL)
    handlers = _handlers(db, metrics=metrics)
    establishment, slot = _site()
    await handlers.on_establishments([ev.EstablishmentRegistered.build(establishment, source="urn:test")])
    await handlers.on_slots([ev.ImmersionSlotOffered.build(slot, source="urn:test")])
    refused = p.ImmersionRefused.model_validate(_request(reason="slot_full", message="Plus de place."))
    await handlers.on_bookings(
        [ev.ImmersionRefused.build(refused, source=Service.CATALOGUE.source, time=NOON)]
    )
    [told] = db.rows_of("c1")
    assert (told["purpose"], told["state"], told["payload"]["reason"]) == (
        "immersion_refused",
        "pending",
        "slot_full",
    )
    assert told["payload"]["slot"]["title"] == "Découvrir le métier d'aide-soignant"  # the slot read before
    old = p.ImmersionBooked.model_validate(
        _request(request_id="req-old", establishment_id="etab", places_left=0)
    )
    at = NOON - timedelta(days=8)
    await handlers.on_bookings([ev.ImmersionBooked.build(old, source=Service.CATALOGUE.source, time=at)])
    assert len(db.rows_of("c1")) == 1 and db.rows_of("etab") == []
    assert metrics.counts["too_old", "booking"] == 1


async def test_a_tutor_address_read_late_wakes_the_host_notice_that_waited_for_it() -> None:
    db, woken = FakeDatabase(), []
    _known(db, "c1", Channel.EMAIL)
    handlers = _handlers(db, woken=woken)
    establishment, _ = _site()
    booked = p.ImmersionBooked.model_validate(_request(establishment_id="etab", places_left=1))
    await handlers.on_bookings([ev.ImmersionBooked.build(booked, source=Service.CATALOGUE.source, time=NOON)])
    [host] = db.rows_of("etab")
    host["not_before"] = NOON + timedelta(minutes=1)  # deferred by the worker: no address yet
    woken.clear()
    await handlers.on_establishments([ev.EstablishmentRegistered.build(establishment, source="urn:test")])
    assert host["not_before"] == NOON and woken == [1]
    assert db.establishments["etab"]["tutor_email"] == "tuteur@ehpad-tilleuls.fr"


async def test_an_opt_out_publishes_once_and_one_for_nobody_or_for_a_channel_already_off_does_nothing() -> (
    None
):
    db, publisher, metrics = FakeDatabase(), FakePublisher(), FakeMetrics()
    _known(db, "c1")
    handlers = _handlers(db, publisher, metrics)
    assert not await handlers.withdraw("nobody", Channel.EMAIL, ConsentOrigin.EMAIL_UNSUBSCRIBE)
    assert await handlers.withdraw("c1", Channel.EMAIL, ConsentOrigin.EMAIL_UNSUBSCRIBE)
    assert not await handlers.withdraw("c1", Channel.EMAIL, ConsentOrigin.EMAIL_UNSUBSCRIBE)
    [published] = publisher.published
    assert isinstance(published, ev.ConsentUpdated) and published.data.channels == ["sms"]
    assert db.contacts["c1"].channels == {Channel.SMS}
    assert metrics.counts["consent_withdrawn", "email_unsubscribe"] == 1
    without_publisher = Handlers(
        FakeUnitsOfWork(db), OutcomeEvents(SOURCE), FakeClock(NOON), Policy(), "notif", metrics=metrics
    )
    with pytest.raises(RuntimeError, match="needs a publisher"):
        await without_publisher.withdraw("c1", Channel.SMS, ConsentOrigin.SMS_STOP)


async def test_a_match_read_after_the_contacts_tombstone_is_erased_by_the_tombstone_on_matches() -> None:
    db = FakeDatabase()
    _known(db, "c1")
    handlers = _handlers(db)
    await handlers.on_contact_erased("c1")
    assert db.tombstones() == []  # nothing of theirs was on `notifications`
    await handlers.on_matches([match("c1", "o1").model_copy(update={"time": NOON})])
    assert db.rows_of("c1") != []  # planned for a contact that will never come
    await handlers.on_matches_erased("c1")
    assert db.rows_of("c1") == []
    assert {r["why"] for r in db.rows_of(PSEUDONYMS.candidate("c1"))} == {"erased"}
    assert db.tombstones() == [Tombstone("notifications", "c1")]
