"""The repositories' contract, run against the in-memory fakes and PostgreSQL alike.

The application layer's unit tests rely on the fakes behaving like the PostgreSQL repositories:
this is where that is checked, one test per repository, through the ports only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from vocation_notifications.adapters.postgres.event_outbox import OUTCOME_EVENTS
from vocation_notifications.adapters.postgres.unit_of_work import PostgresUnitsOfWork
from vocation_notifications.app import MIGRATIONS
from vocation_notifications.core.consent import ConsentMark
from vocation_notifications.core.digest import build_digests
from vocation_notifications.core.facts import OutcomeEvents
from vocation_notifications.core.model import Contact, PlannedNotification, RecipientKind
from vocation_notifications.ports import FactRelay, UnitsOfWork
from vocation_notifications.testing import FakePublisher, FakeRelay, FakeUnitsOfWork, contact
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.vocabulary import Channel, ConsentOrigin, NotificationPurpose
from vocation_shared.facts import Tombstone
from vocation_shared.postgres import create_pool
from vocation_shared.postgres.outbox import OutboxRelay
from vocation_shared.pseudonyms import DEVELOPMENT_PSEUDONYM_KEY, Pseudonymizer
from vocation_shared.testing import samples
from vocation_shared.testing.contract import fake_then_real

NOON = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)
EMAIL, SMS = Channel.EMAIL, Channel.SMS
FACTS = OutcomeEvents("urn:vocation:notifications")
PSEUDONYMS = Pseudonymizer(DEVELOPMENT_PSEUDONYM_KEY)


@pytest.fixture
def fake_units() -> UnitsOfWork:
    """The in-memory fakes."""
    return FakeUnitsOfWork()


@pytest.fixture
async def postgres_units(fresh_database: str) -> AsyncIterator[UnitsOfWork]:
    """The PostgreSQL repositories on a fresh database with the service's migrations."""
    async with create_pool(fresh_database, migrations=[("notifications", MIGRATIONS)], max_size=4) as pool:
        yield PostgresUnitsOfWork(pool)


units = fake_then_real("fake_units", "postgres_units", name="units")


def _contact(cid: str, version: int = 1, *channels: Channel, first_name: str | None = None) -> Contact:
    return Contact(
        cid,
        f"{cid}@exemple.fr",
        "+33612345678",
        frozenset(channels or (EMAIL, SMS)),
        version=version,
        first_name=first_name,
    )


def _planned(recipient: str, about: str, channel: Channel = EMAIL, **fields: object) -> PlannedNotification:
    values: dict[str, object] = {
        "recipient_id": recipient,
        "recipient_kind": RecipientKind.CANDIDATE,
        "channel": channel,
        "purpose": NotificationPurpose.MATCH,
        "about_id": about,
        "not_before": NOON,
        "payload": {"offer_id": about, "score": 80},
    }
    values.update(fields)
    return PlannedNotification(**values)  # type: ignore[arg-type]


async def test_contacts_newest_state_wins_and_an_opt_out_keeps_a_claimed_channel_off(
    units: UnitsOfWork,
) -> None:
    async with units() as uow:
        assert await uow.contacts.save_many([_contact("c1", 2), _contact("c2", 1, EMAIL)]) == ["c1", "c2"]
        assert await uow.contacts.save_many([_contact("c1", 1, EMAIL)]) == []  # older: ignored
        assert await uow.contacts.save_many([_contact("c1", 2, first_name="Léa")]) == ["c1"]  # equal wins
        assert await uow.contacts.add_missing([_contact("c1", 9), _contact("c3", 1)]) == ["c3"]
    async with units() as uow:
        stored = await uow.contacts.get("c1")
        assert stored is not None and stored.first_name == "Léa" and stored.channels == {EMAIL, SMS}
        assert sorted(await uow.contacts.with_phone("+33612345678")) == ["c1", "c2", "c3"]
        stop = ConsentMark("c1", SMS, NOON, ConsentOrigin.SMS_STOP, lifts=False)
        await uow.contacts.lock(["c1"])
        await uow.contacts.record_consent_marks([stop])
        assert await uow.contacts.refresh_channels(["c1", "c2"]) == {"c1": frozenset({SMS})}
        assert set(await uow.contacts.suppressed_channels(["c1", "c2"])) == {"c1"}
        # A partner's newer state claiming SMS: stored, SMS still off.
        assert await uow.contacts.save_many([_contact("c1", 3)]) == ["c1"]
        again = await uow.contacts.get("c1")
        assert again is not None and again.version == 3 and again.channels == {EMAIL}
        # The candidate's own newer consent lifts it.
        later = ConsentMark("c1", SMS, NOON + timedelta(hours=1), ConsentOrigin.CANDIDATE, lifts=True)
        await uow.contacts.record_consent_marks([later])
        assert await uow.contacts.refresh_channels(["c1"]) == {}
        assert set((await uow.contacts.get_many(["c1", "nobody"]))["c1"].channels) == {EMAIL, SMS}
        await uow.contacts.erase("c2")
        assert await uow.contacts.get("c2") is None
        assert await uow.contacts.reseal_batch("", 500) == (0, "c3")  # nothing sealed under an old key


async def test_snapshots_keep_the_newest_version_and_show_a_slot_with_its_address(units: UnitsOfWork) -> None:
    ref = {"id": "etab", "siret": samples.SIRET_EHPAD_BOURG, "name": "EHPAD Les Tilleuls", "kind": "ehpad"}
    place = {**ref, "commune_insee": samples.BOURG_EN_BRESSE, "address": "12 rue des Tilleuls", "version": 2}
    slot = {
        "id": "slot",
        "establishment": ref,
        "rome_code": "J1501",
        "title": "Aide-soignant",
        "commune_insee": samples.BOURG_EN_BRESSE,
        "start_date": "2026-11-25",
        "end_date": "2026-11-27",
        "capacity": 2,
        "places_left": 2,
        "tutor_name": "Mme Martin",
        "version": 2,
    }
    async with units() as uow:
        assert await uow.snapshots.slot_snapshot("slot", 1) is None
        await uow.snapshots.save_establishment(p.Establishment.model_validate(place))
        await uow.snapshots.save_establishment(
            p.Establishment.model_validate({**place, "address": "x", "version": 1})
        )
        await uow.snapshots.save_slot(p.ImmersionSlot.model_validate(slot))
        await uow.snapshots.save_slot(p.ImmersionSlot.model_validate({**slot, "title": "old", "version": 1}))
        shown = await uow.snapshots.slot_snapshot("slot", 1)
    assert shown == {
        "title": "Aide-soignant",
        "establishment_name": "EHPAD Les Tilleuls",
        "commune_insee": samples.BOURG_EN_BRESSE,
        "tutor_name": "Mme Martin",
        "rome_code": "J1501",
        "address": "12 rue des Tilleuls",
        "places_left": 1,
    }


async def test_outbox_plans_at_most_once_and_an_attempt_owns_its_row(units: UnitsOfWork) -> None:
    async with units() as uow:
        await uow.contacts.save_many([_contact("c1")])
        added = await uow.outbox.plan_many(
            [_planned("c1", "o1"), _planned("c1", "o2", suppressed_why="no_consent")], NOON
        )
        assert [(r.about_id, r.why) for r in added] == [("o1", None), ("o2", "no_consent")]
        assert await uow.outbox.plan([_planned("c1", "o1")], NOON) == []  # at most once
        count, refs = await uow.outbox.withdraw_many([("c1", "o1")], [NotificationPurpose.MATCH])
        assert count == 1 and [(r.about_id, r.why) for r in refs] == [("o1", "withdrawn")]
        assert [r.about_id for r in await uow.outbox.plan([_planned("c1", "o1")], NOON)] == ["o1"]  # revived
        await uow.outbox.plan([_planned("c1", "o3", not_before=NOON + timedelta(hours=1))], NOON)
        assert await uow.outbox.wake_many(["c1"], RecipientKind.CANDIDATE, NOON) == 1
        assert await uow.outbox.depth() == {"pending": 2, "held": 0, "sending": 0}
    async with units() as uow:
        due = await uow.outbox.due(NOON, 10)
        assert sorted(r.about_id for r in due) == ["o1", "o3"]
        assert all(r.contact is not None and r.contact.email == "c1@exemple.fr" for r in due)
        [first, second] = sorted(due, key=lambda r: r.about_id)
        [(a1, n1), (a2, _)] = await uow.outbox.mark_sending(
            [first, second], NOON, NOON + timedelta(minutes=2)
        )
        assert n1 == 1
        assert await uow.outbox.mark_sent_many(
            [(first, a1, n1, "p-1"), (second, "0" * 32, 1, None)], NOON
        ) == [
            True,
            False,  # another attempt's id: not this one's to record
        ]
        day = (NOON - timedelta(hours=11), NOON + timedelta(hours=13))
        counts = await uow.outbox.capped_counts(["c1"], [NotificationPurpose.MATCH], day)
        assert counts == {("c1", EMAIL): 2}  # sent and sending
        assert await uow.outbox.mark_failed(second, a2, "451", NOON + timedelta(minutes=5))
        assert not await uow.outbox.mark_failed(second, a2, "451", None)  # no longer sending
        assert await uow.outbox.release_expired(NOON + timedelta(hours=1)) == 0
        erased = await uow.outbox.erase("c1")
        assert [(r.about_id, r.why) for r in erased] == [("o3", "erased")]
        assert await uow.outbox.due(NOON + timedelta(hours=1), 10) == []
        assert await uow.outbox.keep_under_pseudonym("c1", PSEUDONYMS) == 3
        assert await uow.outbox.keep_under_pseudonym("c1", PSEUDONYMS) == 0
        # Planned again and erased again: the row kept under the pseudonym wins, at most once.
        assert [r.about_id for r in await uow.outbox.plan([_planned("c1", "o1")], NOON)] == ["o1"]
        assert await uow.outbox.keep_under_pseudonym("c1", PSEUDONYMS) == 1
        assert await uow.outbox.plan([_planned(PSEUDONYMS.candidate("c1"), "o1")], NOON) == []
        assert await uow.outbox.depth() == {"pending": 0, "held": 0, "sending": 0}


async def test_digests_gather_held_rows_once_and_a_later_digest_gets_the_next_version(
    units: UnitsOfWork,
) -> None:
    later = NOON + timedelta(hours=8)
    async with units() as uow:
        await uow.outbox.plan_many(
            [_planned("c1", f"o{n}", held=True, not_before=later) for n in range(3)], NOON
        )
        assert await uow.digests.due_held(NOON, 100) == []
        held = await uow.digests.due_held(later, 100)
        assert len(held) == 3
        [digest] = build_digests(held, later)
        await uow.digests.save(digest, later)
        assert await uow.digests.due_held(later, 100) == []
        await uow.outbox.plan_many([_planned("c1", "o9", held=True, not_before=later)], NOON)
        [second] = build_digests(await uow.digests.due_held(later, 100), later)
        await uow.digests.save(second, later)
        due = [r for r in await uow.outbox.due(later, 10) if r.purpose is NotificationPurpose.DIGEST]
    assert sorted(r.payload["count"] for r in due) == [1, 3]
    async with units() as uow:  # a withdrawn match leaves its unsent digest
        count, refs = await uow.outbox.withdraw_many([("c1", "o9")], [NotificationPurpose.MATCH])
    assert count == 1 and [r.purpose for r in refs] == [NotificationPurpose.MATCH, NotificationPurpose.DIGEST]


def _relay(units: UnitsOfWork, publisher: FakePublisher) -> FactRelay:
    """The relay of the event outbox these units of work write to."""
    if isinstance(units, FakeUnitsOfWork):
        return FakeRelay(units.db, publisher)
    assert isinstance(units, PostgresUnitsOfWork)
    return OutboxRelay(units.pool, OUTCOME_EVENTS, publisher)


async def test_event_outbox_relays_what_was_committed_in_order_once_per_id_without_an_erased_persons_restatements(
    units: UnitsOfWork,
) -> None:
    stop = p.ConsentUpdated.model_validate(
        {
            **contact("c1", channels=["email"]).model_dump(),
            "change": {"channel": "sms", "consented": False, "origin": "sms_stop", "at": NOON},
        }
    )
    restated = FACTS.opt_out_restated(stop, NOON)
    other = FACTS.opt_out_restated(stop.model_copy(update={"candidate_id": "c2"}), NOON)
    publisher = FakePublisher()
    relay = _relay(units, publisher)

    async def queue_then_fail() -> None:
        async with units() as uow:
            await uow.events.queue([restated])
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await queue_then_fail()
    assert await relay.relay() == 0
    async with units() as uow:
        await uow.events.queue([restated, other])
        await uow.events.queue([restated])  # the same id again: once
    async with units() as uow:  # c1 erased before the relay ran
        await uow.events.drop_consent_updates("c1")
    assert await relay.relay() == 1
    assert publisher.records == [other] and isinstance(other, ev.ConsentUpdated)
    assert await relay.relay() == 0  # published, then forgotten
    async with units() as uow:
        await uow.events.queue([restated])
        await uow.events.queue_tombstone("notifications", "c1")
        await uow.events.queue([other])
    assert await relay.relay(limit=2) == 3
    assert publisher.records == [other, restated, Tombstone("notifications", "c1"), other]


async def test_processed_marks_are_new_once_and_a_failed_unit_of_work_keeps_none(units: UnitsOfWork) -> None:
    keys = [("urn:a", "e1"), ("urn:a", "e2")]

    async def mark_then_fail() -> None:
        async with units() as uow:
            assert await uow.processed.mark_many("notif-matches", keys) == set(keys)
            raise RuntimeError("the batch failed")

    with pytest.raises(RuntimeError):
        await mark_then_fail()
    async with units() as uow:
        assert await uow.processed.mark_many("notif-matches", keys) == set(keys)
        assert await uow.processed.mark_many("notif-matches", [*keys, ("urn:a", "e3")]) == {("urn:a", "e3")}
        assert await uow.processed.mark_many("notif-other", keys[:1]) == set(keys[:1])
    async with units() as uow:  # marks written before pseudonyms are rewritten, chunk by chunk
        assert await uow.processed.pseudonymize_bare(lambda i: PSEUDONYMS.of("event", i), chunk=2) == 2
        assert await uow.processed.pseudonymize_bare(lambda i: PSEUDONYMS.of("event", i)) == 2
        assert await uow.processed.pseudonymize_bare(lambda i: PSEUDONYMS.of("event", i)) == 0
        rewritten = ("urn:a", PSEUDONYMS.of("event", "e1"))
        assert await uow.processed.mark_many("notif-matches", [rewritten]) == set()


async def test_a_message_a_click_asked_for_is_due_before_the_queue_of_match_messages(
    units: UnitsOfWork,
) -> None:
    backlog = [_planned("c1", f"o{n}", not_before=NOON - timedelta(minutes=10 - n)) for n in range(5)]
    answer = _planned(
        "c1",
        "app-1",
        purpose=NotificationPurpose.APPLICATION_ANSWERED,
        payload={"candidate_id": "c1", "offer_id": "o1"},
    )
    async with units() as uow:
        await uow.contacts.save_many([_contact("c1")])
        await uow.outbox.plan_many(backlog, NOON)
        await uow.outbox.plan([answer], NOON)  # planned last, due last
    async with units() as uow:
        due = await uow.outbox.due(NOON, 3)
        assert [r.about_id for r in due] == ["app-1", "o0", "o1"]


async def test_a_recruiter_row_reads_the_vacancy_its_contact_and_only_the_shared_candidate_contact(
    units: UnitsOfWork,
) -> None:
    ref = {"id": "etab", "siret": samples.SIRET_EHPAD_BOURG, "name": "EHPAD Les Tilleuls", "kind": "ehpad"}
    site = p.Establishment.model_validate(
        {
            **ref,
            "commune_insee": "67482",  # Strasbourg: Alsace-Moselle's calendar
            "recruiting_contact": {"name": "RH", "email": "rh@tilleuls.fr"},
        }
    )
    own = {"name": "Claire", "email": "claire@tilleuls.fr", "phone": "+33474000000"}
    first = p.Vacancy.model_validate(
        samples.vacancy(id="vac", establishment=ref, recruiting_contact=own, version=2)
    )
    older = p.Vacancy.model_validate(samples.vacancy(id="vac", establishment=ref, title="Ancien", version=1))
    payload = {"candidate_id": "c1", "offer_id": "vac", "shares": {"email": True, "phone": False}}
    row = _planned(
        "vac",
        "app-1",
        recipient_kind=RecipientKind.RECRUITER,
        purpose=NotificationPurpose.APPLICATION_RECEIVED,
        payload=payload,
        related_id="app-1",
    )
    async with units() as uow:
        await uow.snapshots.save_establishment(site)
        await uow.snapshots.save_vacancy(first)
        await uow.snapshots.save_vacancy(older)  # older: ignored
        assert await uow.snapshots.vacancy_departement("vac") == "67"
        assert await uow.snapshots.vacancy_departement("unknown") is None
        await uow.contacts.save_many([_contact("c1", first_name="Camille")])
        assert len(await uow.outbox.plan([row], NOON)) == 1
    async with units() as uow:
        [due] = await uow.outbox.due(NOON, 10)
        assert due.host_address == "claire@tilleuls.fr" and due.contact is None
        assert due.guest_first_name == "Camille"
        assert due.payload["vacancy"]["title"] == "Aide-soignant(e) de nuit"
        assert due.payload["recruiter"] == own
        assert due.payload["shared_contact"] == {"email": "c1@exemple.fr"}  # the phone was not shared
    newer = p.Vacancy.model_validate(samples.vacancy(id="vac", establishment=ref, version=3))
    async with units() as uow:
        await uow.snapshots.save_vacancy(newer)  # its own contact gone: the site's answers
        [due] = await uow.outbox.due(NOON, 10)
        assert due.host_address == "rh@tilleuls.fr"
        assert due.payload["recruiter"] == {"name": "RH", "email": "rh@tilleuls.fr", "phone": None}
    async with units() as uow:
        [erased] = await uow.outbox.erase("c1")
        assert (erased.recipient_id, erased.why) == ("vac", "erased")
        await uow.outbox.keep_under_pseudonym("c1", PSEUDONYMS)
        assert await uow.outbox.due(NOON, 10) == []
        assert await uow.outbox.plan([row], NOON) == []  # its key is kept: a replay plans nothing
