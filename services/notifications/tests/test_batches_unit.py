"""Batch planning (`core.batches`) and the batch handlers (`Handlers.on_matches`, `on_contacts`) with fakes.

The fakes apply the store's statements to rows in memory with the same rules as the SQL, so a
batch handled at once can be compared with the same events handled one by one, in order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from vocation_notifications.core.batches import (
    distinct_events,
    latest_contacts,
    plan_match_steps,
    row_key,
)
from vocation_notifications.core.facts import OutcomeEvents
from vocation_notifications.core.model import Contact
from vocation_notifications.core.policy import Policy
from vocation_notifications.handlers import Handlers
from vocation_notifications.testing import (
    FakeClock,
    FakeDatabase,
    FakeMetrics,
    FakeUnitsOfWork,
    contact,
    match,
    withdrawal,
)
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.vocabulary import Channel, NotificationPurpose

pytestmark = pytest.mark.unit

POLICY = Policy()
NOON = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)


def _contact(cid: str, **fields: Any) -> Contact:
    values: dict[str, Any] = {
        "candidate_id": cid,
        "email": f"{cid}@exemple.fr",
        "phone": "+33612345678",
        "channels": frozenset({Channel.EMAIL, Channel.SMS}),
    }
    values.update(fields)
    return Contact(**values)


def _withdrawn(candidate_id: str, offer_id: str, n: int = 0) -> ev.MatchWithdrawn:
    return withdrawal(candidate_id, offer_id, event_id=f"w-{candidate_id}-{offer_id}-{n}")


def _found(candidate_id: str, offer_id: str, n: int = 0, **fields: Any) -> ev.MatchFound:
    event = match(candidate_id, offer_id, **fields)
    return event.model_copy(update={"id": f"f-{candidate_id}-{offer_id}-{n}"})


# --- pure planning -------------------------------------------------------------------------------


def test_distinct_events_keep_the_first_of_each_source_and_id_in_order() -> None:
    a, b = _found("c1", "o1"), _found("c1", "o2")
    assert distinct_events([a, b, a, b, a]) == [a, b]


def test_latest_contacts_is_what_one_by_one_would_leave() -> None:
    def state(cid: str, version: int, email: str) -> p.CandidateContact:
        return contact(cid, version=version, email=email)

    states = [
        state("c1", 1, "a@exemple.fr"),
        state("c1", 3, "b@exemple.fr"),
        state("c1", 2, "stale@exemple.fr"),  # older than 3: ignored
        state("c1", 3, "c@exemple.fr"),  # equal wins (our own consent-updated coming back)
        state("c2", 1, "d@exemple.fr"),
    ]
    latest = {c.candidate_id: c for c in latest_contacts(states)}
    assert (latest["c1"].version, latest["c1"].email) == (3, "c@exemple.fr")
    assert (latest["c2"].version, latest["c2"].email) == (1, "d@exemple.fr")


def test_a_batch_of_matches_about_different_pairs_is_one_step() -> None:
    facts = [_found(f"c{i}", "o1").data for i in range(50)] + [_withdrawn("c99", "o1").data]
    contacts = {f"c{i}": _contact(f"c{i}") for i in range(50)}
    [step] = plan_match_steps(facts, contacts, NOON, POLICY)
    assert len(step.rows) == 100 and step.withdrawals == [("c99", "o1")]
    assert len({row_key(r) for r in step.rows}) == 100


def test_found_then_withdrawn_then_found_again_for_one_pair_are_three_steps_in_order() -> None:
    facts = [
        _found("c1", "o1").data,
        _found("c1", "o1", 1).data,  # a repeat: same step, its rows already there
        _withdrawn("c1", "o1").data,
        _withdrawn("c1", "o1", 1).data,
        _found("c1", "o1", 2).data,
        _found("c2", "o1").data,  # another pair: first step
    ]
    steps = plan_match_steps(facts, {"c1": _contact("c1")}, NOON, POLICY)
    assert [(len(s.rows), s.withdrawals) for s in steps] == [(4, []), (0, [("c1", "o1")]), (2, [])]
    assert {r.recipient_id for r in steps[0].rows} == {"c1", "c2"}


def test_unknown_contacts_get_both_channels_and_no_consent_one_suppressed_row() -> None:
    facts = [_found("unknown", "o1").data, _found("silent", "o1").data]
    [step] = plan_match_steps(facts, {"silent": _contact("silent", channels=frozenset())}, NOON, POLICY)
    assert sorted((r.recipient_id, r.channel, r.suppressed_why) for r in step.rows) == [
        ("silent", Channel.EMAIL, "no_consent"),
        ("unknown", Channel.EMAIL, None),
        ("unknown", Channel.SMS, None),
    ]


def test_an_urgent_and_a_plain_match_of_one_offer_are_two_purposes() -> None:
    facts = [_found("c1", "o1").data, _found("c1", "o1", 1, urgent=True).data]
    [step] = plan_match_steps(
        facts, {"c1": _contact("c1", channels=frozenset({Channel.EMAIL}))}, NOON, POLICY
    )
    assert sorted(r.purpose for r in step.rows) == [
        NotificationPurpose.MATCH,
        NotificationPurpose.URGENT_SHIFT,
    ]


# --- handlers with the fake unit of work ---------------------------------------------------------


def _handlers(
    db: FakeDatabase, woken: list[int] | None = None, metrics: FakeMetrics | None = None
) -> Handlers:
    return Handlers(
        FakeUnitsOfWork(db),
        OutcomeEvents("urn:vocation:notifications"),
        FakeClock(NOON),
        POLICY,
        "notif",
        metrics=metrics or FakeMetrics(),
        on_planned=(lambda: woken.append(1)) if woken is not None else None,
    )


def _outbox(db: FakeDatabase) -> dict[tuple[str, str, str, str, int], dict[str, Any]]:
    """The outbox by its unique key, without the ids (random per insert)."""
    return {
        (r["recipient_id"], r["channel"], r["purpose"], r["about_id"], r["about_version"]): {
            k: v for k, v in r.items() if k not in ("id", "digest_id")
        }
        for r in db.outbox.values()
    }


def _suppressed_facts(db: FakeDatabase) -> list[tuple[str, str]]:
    return [
        (e.data.recipient_id, str(e.data.why))
        for e in db.events()
        if isinstance(e, ev.NotificationSuppressed)
    ]


def _mixed_batch() -> list[AnyEvent]:
    """Matches and withdrawals of two candidates, with repeats, in the topic's order."""
    return [
        _found("c1", "o1"),
        _found("c1", "o2"),
        _found("c2", "o1"),
        _withdrawn("c1", "o1"),  # before it was sent: never sent
        _found("c1", "o3"),
        _withdrawn("c1", "o3"),
        _found("c1", "o3", 1),  # found again after its withdrawal: revived
        _found("c1", "o2"),  # a redelivered event (same id): nothing twice
        _withdrawn("c2", "o9"),  # nothing to withdraw
        _found("c3", "o1"),  # contact unknown: both channels, decided at send time
        _found("c4", "o1"),  # no consent: one suppressed row
    ]


def _seeded() -> FakeDatabase:
    store = FakeDatabase()
    store.contacts = {
        "c1": _contact("c1"),
        "c2": _contact("c2", channels=frozenset({Channel.EMAIL})),
        "c4": _contact("c4", channels=frozenset()),
    }
    return store


async def test_a_batch_leaves_the_outbox_as_one_event_at_a_time_would() -> None:
    batch = _mixed_batch()
    at_once, one_by_one = _seeded(), _seeded()
    await _handlers(at_once).on_matches(batch)
    single = _handlers(one_by_one)
    for event in batch:
        await single.on_matches([event])
    assert _outbox(at_once) == _outbox(one_by_one)
    assert sorted(_suppressed_facts(at_once)) == sorted(_suppressed_facts(one_by_one))
    states = {(k[0], k[1], k[3]): (v["state"], v["why"]) for k, v in _outbox(at_once).items()}
    assert states[("c1", "email", "o1")] == ("suppressed", "withdrawn")
    assert states[("c1", "sms", "o2")] == ("pending", None)
    assert states[("c1", "email", "o3")] == ("pending", None)
    assert states[("c2", "email", "o1")] == ("pending", None)
    assert states[("c3", "sms", "o1")] == ("pending", None)
    assert states[("c4", "email", "o1")] == ("suppressed", "no_consent")
    assert ("c2", "sms", "o1") not in states


async def test_a_batch_costs_a_few_statements_not_a_few_per_event() -> None:
    store = _seeded()
    woken: list[int] = []
    await _handlers(store, woken).on_matches(_mixed_batch())
    # mark, contacts, then three steps (o1/o3 found, withdrawn, found again) of insert + update
    assert store.calls == ["mark_many", "get_many"] + ["plan_many", "withdraw_many"] * 3
    assert woken == [1]


async def test_a_replayed_batch_plans_nothing_twice() -> None:
    store = _seeded()
    handlers = _handlers(store)
    await handlers.on_matches(_mixed_batch())
    before = _outbox(store)
    facts = len(_suppressed_facts(store))
    woken: list[int] = []
    await _handlers(store, woken).on_matches(_mixed_batch())
    assert _outbox(store) == before and len(_suppressed_facts(store)) == facts and woken == []


async def test_contacts_batch_keeps_the_newest_state_and_wakes_what_waited() -> None:
    store = FakeDatabase()
    handlers = _handlers(store)
    await handlers.on_matches([_found("c1", "o1")])  # before its contact: both channels planned
    for row in store.outbox.values():
        row["not_before"] = datetime(2026, 11, 22, 11, 6, tzinfo=UTC)  # deferred, waiting for the contact
    woken: list[int] = []
    registered = contact("c1", version=1)
    email_only = contact("c1", version=2, channels=["email"])
    stale = contact("c1", version=1, channels=[])
    batch: list[AnyEvent] = [
        ev.ContactRegistered.build(registered, source="urn:test:partner", id="e1"),
        ev.ContactRegistered.build(email_only, source="urn:test:partner", id="e2"),
        ev.ContactRegistered.build(stale, source="urn:test:partner", id="e3"),
    ]
    await _handlers(store, woken).on_contacts(batch)
    assert store.contacts["c1"].version == 2 and store.contacts["c1"].channels == {Channel.EMAIL}
    assert {row["not_before"] for row in store.outbox.values()} == {NOON} and woken == [1]
    assert store.calls[-8:] == [
        "mark_many",
        "lock",
        "save_many",
        "add_missing",
        "save_many",
        "record_consent_marks",
        "refresh_channels",
        "wake_many",
    ]


# --- an opt-out sticks ---------------------------------------------------------------------------


def _consent(
    cid: str,
    event_id: str,
    *,
    channel: str,
    consented: bool,
    origin: str,
    at: datetime,
    source: str = "urn:test:partner",
    **fields: Any,
) -> ev.ConsentUpdated:
    state = contact(cid, **fields).model_dump()
    data = p.ConsentUpdated.model_validate(
        {**state, "change": {"channel": channel, "consented": consented, "origin": origin, "at": at}}
    )
    return ev.ConsentUpdated.build(data, source=source, id=event_id)


def _registered(cid: str, event_id: str, **fields: Any) -> ev.ContactRegistered:
    return ev.ContactRegistered.build(contact(cid, **fields), source="urn:test:partner", id=event_id)


STOP_AT = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


async def _stopped(store: FakeDatabase) -> None:
    """c1 registered (v1, email and SMS), then a STOP as the service publishes it (v1 kept, SMS off)."""
    await _handlers(store).on_contacts(
        [
            _registered("c1", "r1"),
            _consent(
                "c1",
                "stop",
                channel="sms",
                consented=False,
                origin="sms_stop",
                at=STOP_AT,
                source="urn:vocation:notifications",
                channels=["email"],
            ),
        ]
    )
    assert store.contacts["c1"].channels == {Channel.EMAIL}


async def test_a_partner_registration_after_a_stop_applies_its_changes_but_keeps_sms_off() -> None:
    store = FakeDatabase()
    await _stopped(store)
    metrics = FakeMetrics()
    handlers = _handlers(store, metrics=metrics)
    await handlers.on_contacts([_registered("c1", "r2", version=2, email="lea@exemple.fr")])
    c1 = store.contacts["c1"]
    assert c1.version == 2 and c1.email == "lea@exemple.fr"  # the partner's change is applied
    assert c1.channels == {Channel.EMAIL}  # its claim of SMS is not
    assert metrics.counts["opt_out_kept", "sms"] == 1  # visible, not silent
    # …and said again on the topic, so that its newest record of c1 (what compaction keeps) has it.
    [restated] = store.events()
    assert isinstance(restated, ev.ConsentUpdated) and restated.source == "urn:vocation:notifications"
    assert restated.data.version == 2 and restated.data.email == "lea@exemple.fr"
    assert restated.data.channels == ["email"]
    assert (restated.data.change.channel, restated.data.change.origin, restated.data.change.at) == (
        "sms",
        "sms_stop",
        STOP_AT,
    )
    # Read back, it changes nothing and is not restated again.
    await handlers.on_contacts([restated])
    assert store.contacts["c1"] == c1 and len(store.events()) == 1


async def test_a_state_stated_here_fills_a_missing_contact_and_never_overwrites_one() -> None:
    stop = _consent(
        "c1",
        "stop",
        channel="sms",
        consented=False,
        origin="sms_stop",
        at=STOP_AT,
        source="urn:vocation:notifications",
        channels=["email"],
        email="old@exemple.fr",
    )
    rebuilt = FakeDatabase()  # a rebuild from the compacted topic: only the opt-out is left
    await _handlers(rebuilt).on_contacts([stop])
    assert rebuilt.contacts["c1"].channels == {Channel.EMAIL}
    stored = FakeDatabase()
    await _handlers(stored).on_contacts([_registered("c1", "r1", email="new@exemple.fr"), stop])
    assert stored.contacts["c1"].email == "new@exemple.fr"
    assert stored.contacts["c1"].channels == {Channel.EMAIL}


async def test_only_the_candidates_own_newer_consent_lifts_a_stop() -> None:
    store = FakeDatabase()
    await _stopped(store)
    later = datetime(2026, 11, 22, 10, 30, tzinfo=UTC)
    handlers = _handlers(store)
    # The partner says "consented" on its own authority, or relays a consent older than the STOP.
    await handlers.on_contacts(
        [
            _consent("c1", "p", channel="sms", consented=True, origin="partner", at=later, version=2),
            _consent("c1", "old", channel="sms", consented=True, origin="candidate", at=STOP_AT, version=3),
        ]
    )
    assert store.contacts["c1"].channels == {Channel.EMAIL} and store.contacts["c1"].version == 3
    # The candidate's own consent, newer than the STOP: SMS again.
    await handlers.on_contacts(
        [_consent("c1", "yes", channel="sms", consented=True, origin="candidate", at=later, version=4)]
    )
    assert store.contacts["c1"].channels == {Channel.EMAIL, Channel.SMS}


async def test_a_consent_dated_in_the_future_cannot_outlive_a_later_stop() -> None:
    store = FakeDatabase()
    await _stopped(store)
    handlers = _handlers(store)  # the clock says NOON
    future = datetime(2030, 1, 1, tzinfo=UTC)
    await handlers.on_contacts(
        [_consent("c1", "yes", channel="sms", consented=True, origin="candidate", at=future, version=2)]
    )
    assert Channel.SMS in store.contacts["c1"].channels
    after = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # a STOP an hour after NOON
    await handlers.on_contacts(
        [
            _consent(
                "c1", "stop2", channel="sms", consented=False, origin="sms_stop", at=after, channels=["email"]
            )
        ]
    )
    assert store.contacts["c1"].channels == {Channel.EMAIL}


async def test_a_partner_withdrawal_also_sticks_and_the_order_of_a_batch_does_not_matter() -> None:
    later = datetime(2026, 11, 22, 10, 30, tzinfo=UTC)
    events: list[AnyEvent] = [
        _registered("c1", "r1"),
        _consent("c1", "w", channel="email", consented=False, origin="partner", at=STOP_AT, channels=["sms"]),
        _registered("c1", "r2", version=2),
        _consent("c1", "yes", channel="email", consented=True, origin="candidate", at=later, version=3),
    ]
    for order in (events, [events[0], events[3], events[1], events[2]]):
        store = FakeDatabase()
        for event in order:  # one by one, as after a failed batch
            await _handlers(store).on_contacts([event])
        at_once = FakeDatabase()
        await _handlers(at_once).on_contacts(order)
        assert (
            store.contacts["c1"].channels == at_once.contacts["c1"].channels == {Channel.EMAIL, Channel.SMS}
        )
    store = FakeDatabase()
    await _handlers(store).on_contacts(events[:3])
    assert store.contacts["c1"].channels == {Channel.SMS} and store.contacts["c1"].version == 2


def test_row_keys_are_the_outbox_unique_key() -> None:
    [row] = plan_match_steps([_found("c1", "o1").data], {"c1": _contact("c1", phone=None)}, NOON, POLICY)[
        0
    ].rows
    assert row_key(row) == ("c1", "email", "match", "o1", 1)
