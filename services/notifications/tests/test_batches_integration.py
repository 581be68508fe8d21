"""Batches of events applied at once, with the real broker and database: same result as one by one, in order."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from vocation_notifications.testing import (
    Harness,
    contact,
    eventually,
    match,
    personal_links,
    phone_of,
    read_events,
    withdrawal,
)
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.topics import Topic

pytestmark = pytest.mark.integration


def _withdrawn(candidate_id: str, offer_id: str, event_id: str) -> ev.MatchWithdrawn:
    return withdrawal(candidate_id, offer_id, event_id=event_id)


def _found(candidate_id: str, offer_id: str, event_id: str, **fields: object) -> ev.MatchFound:
    return match(candidate_id, offer_id, **fields).model_copy(update={"id": event_id})


async def _states(h: Harness, cand: str) -> dict[tuple[str, str], tuple[str, str | None]]:
    return {(r["about_id"], r["channel"]): (r["state"], r["why"]) for r in await h.rows(cand)}


async def test_matches_and_withdrawals_of_one_person_in_one_batch_are_applied_in_order(
    harness: Harness,
) -> None:
    h = harness
    cand = h.id("cand")
    o1, o2, o3 = h.id("vac1"), h.id("vac2"), h.id("vac3")
    await h.register_contact(cand)
    batch: list[AnyEvent] = [
        _found(cand, o1, h.id("f1")),
        _found(cand, o2, h.id("f2")),
        _withdrawn(cand, o1, h.id("w1")),  # withdrawn before it was sent: never sent
        _found(cand, o3, h.id("f3")),
        _withdrawn(cand, o3, h.id("w3")),
        _found(cand, o3, h.id("f3-again"), offer_version=2),  # found again: revived
        _found(cand, o2, h.id("f2")),  # the same event twice: nothing twice
    ]
    await h.publish(*batch)
    expected = {
        (o1, "email"): ("suppressed", "withdrawn"),
        (o1, "sms"): ("suppressed", "withdrawn"),
        (o2, "email"): ("pending", None),
        (o2, "sms"): ("pending", None),
        (o3, "email"): ("pending", None),
        (o3, "sms"): ("pending", None),
    }

    async def applied() -> bool:
        return await _states(h, cand) == expected

    await eventually(applied, what="the batch applied in order")
    assert all(
        r["payload"]["offer_version"] == 2 for r in await h.rows(cand) if r["about_id"] == o3
    )  # the revived rows carry the new match
    await h.drain()
    mails = h.sink.to(f"{cand}@exemple.fr")
    told = sorted(link.target_id for m in mails for link in personal_links(m.part("plain"))[:1])
    assert told == [o2, o3]
    assert len(h.stub.to(phone_of(cand))) == 2
    outcomes = await read_events(h.bootstrap, Topic.NOTIFICATIONS, cand, expected=8)
    kinds = Counter((type(e.data).__name__, getattr(e.data, "why", None), e.data.about_id) for e in outcomes)
    assert kinds == {
        ("NotificationSuppressed", "withdrawn", o1): 2,
        ("NotificationSuppressed", "withdrawn", o3): 2,
        ("NotificationSent", None, o2): 2,
        ("NotificationSent", None, o3): 2,
    }

    # Redelivered (e.g. a replay of the topic): nothing is planned or sent twice.
    await h.publish(*batch)
    await _caught_up(h, cand)
    assert await _states(h, cand) == {
        (o1, "email"): ("suppressed", "withdrawn"),
        (o1, "sms"): ("suppressed", "withdrawn"),
        (o2, "email"): ("sent", None),
        (o2, "sms"): ("sent", None),
        (o3, "email"): ("sent", None),
        (o3, "sms"): ("sent", None),
    }
    await h.drain()
    assert len(h.sink.to(f"{cand}@exemple.fr")) == 2 and len(h.stub.to(phone_of(cand))) == 2


async def _caught_up(h: Harness, cand: str) -> None:
    """Wait until the matches consumer is past the replay: a new match published after it is planned."""
    marker = h.id("marker")
    await h.publish(_found(cand, marker, h.id("marker-event"), offer_version=1))
    await h.wait_rows(cand, 1, about_id=marker)
    await h.fetchval("DELETE FROM outbox WHERE about_id = $1", marker)


async def test_contact_changes_and_a_tombstone_of_one_person_are_applied_in_order(harness: Harness) -> None:
    h = harness
    cand = h.id("cand")
    registered = await h.register_contact(cand, digest="daily")
    await h.publish(match(cand, h.id("vac")))
    await h.wait_rows(cand, 2, state="held")
    email_only = p.ConsentUpdated.model_validate(
        {
            **registered.model_dump(),
            "channels": ["email"],
            "version": 2,
            "change": p.ConsentChange(channel="sms", consented=False, origin="partner", at=h.clock.now()),
        }
    )
    again = contact(cand, channels=["email"], version=1)  # registered anew after the erasure
    # Published back to back (one partition, one key): the consumer sees them in this order,
    # whatever the fetched batches.
    await h.publish(ev.ConsentUpdated.build(email_only, source="urn:test:partner"))
    await h.publisher.tombstone(Topic.CANDIDATE_CONTACTS, cand)
    await h.publish(ev.ContactRegistered.build(again, source="urn:test:partner"))

    async def erased_then_registered() -> bool:
        rows = await h.rows(cand)
        return await h.contact_version(cand) == 1 and all(r["why"] == "erased" for r in rows)

    await eventually(erased_then_registered, what="erasure then new registration")
    rows = await h.rows(cand)
    assert {(r["state"], r["why"]) for r in rows} == {("suppressed", "erased")}
    assert all(r["payload"] == {} for r in rows)
    assert await h.fetchval("SELECT channels FROM contacts WHERE candidate_id = $1", cand) == ["email"]
    # The partner's withdrawal was a suppression: erased with the person, it leaves no trace.
    assert await h.fetchval("SELECT count(*) FROM consent_suppressions WHERE candidate_id = $1", cand) == 0
    # The new registration plans as usual (email only, instant).
    await h.publish(match(cand, h.id("vac-after")))
    await h.wait_rows(cand, 3)
    await h.drain()
    assert len(h.sink.to(f"{cand}@exemple.fr")) == 1 and h.stub.to(phone_of(cand)) == []


async def test_a_contact_after_its_matches_and_a_withdrawal_wakes_the_rows_then_a_tombstone_erases(
    harness: Harness,
) -> None:
    h = harness
    cand = h.id("cand")
    kept, withdrawn = h.id("vac-kept"), h.id("vac-gone")
    await h.publish(
        _found(cand, kept, h.id("f1")),
        _found(cand, withdrawn, h.id("f2")),
        _withdrawn(cand, withdrawn, h.id("w2")),
    )
    await eventually(
        lambda: _has_states(h, cand, {("pending", None): 2, ("suppressed", "withdrawn"): 2}),
        what="planned without a contact",
    )
    await h.drain()  # contact unknown: deferred (a tenth of the grace, at most 2 s)
    deferred = [r for r in await h.rows(cand) if r["state"] == "pending"]
    assert all(r["not_before"] > h.clock.now() for r in deferred) and len(deferred) == 2
    await h.register_contact(cand, channels=["email"], digest="daily")  # in a batch with others, maybe

    async def woken() -> bool:
        return all(r["not_before"] <= h.clock.now() for r in await h.rows(cand) if r["state"] == "pending")

    await eventually(woken, what="rows woken by the contact")
    await h.drain()  # instant at planning, daily now: held for the digest (decided at send time)
    assert await _has_states(
        h, cand, {("held", None): 1, ("suppressed", "no_consent"): 1, ("suppressed", "withdrawn"): 2}
    )
    await h.publisher.tombstone(Topic.CANDIDATE_CONTACTS, cand)
    await eventually(
        lambda: _has_states(
            h,
            cand,
            {("suppressed", "erased"): 1, ("suppressed", "no_consent"): 1, ("suppressed", "withdrawn"): 2},
        ),
        what="erased",
    )
    assert await h.contact_version(cand) is None
    await h.drain()
    assert h.sink.to(f"{cand}@exemple.fr") == [] and h.stub.to(phone_of(cand)) == []


async def _has_states(h: Harness, cand: str, expected: dict[tuple[str, str | None], int]) -> bool:
    return Counter((r["state"], r["why"]) for r in await h.rows(cand)) == expected


async def test_many_contacts_in_one_batch_are_all_stored_with_their_newest_version(harness: Harness) -> None:
    h = harness
    people = [h.id(f"p{n}") for n in range(300)]
    events: list[AnyEvent] = []
    for cand in people:
        events.append(ev.ContactRegistered.build(contact(cand, version=1), source="urn:test:partner"))
        events.append(
            ev.ContactRegistered.build(contact(cand, version=2, channels=["sms"]), source="urn:test:partner")
        )
    await h.publish(*events)

    async def stored() -> bool:
        count = await h.fetchval(
            "SELECT count(*) FROM contacts WHERE candidate_id = ANY($1::text[]) AND version = 2 AND channels = '{sms}'",
            people,
        )
        return int(count) == len(people)

    await eventually(stored, what="300 contacts at version 2")


async def test_a_match_too_old_to_tell_is_not_planned_but_a_withdrawal_still_applies(
    harness: Harness,
) -> None:
    """A replay of last year's matches (or a week-long outage) must not reach people now."""
    h = harness
    cand = h.id("cand")
    old_offer, new_offer, told_offer = h.id("vac-old"), h.id("vac-new"), h.id("vac-told")
    old_shift = h.id("vac-shift")
    await h.register_contact(cand)
    await h.publish(_found(cand, told_offer, h.id("f-told")))
    await eventually(lambda: _has_states(h, cand, {("pending", None): 2}), what="the first match planned")
    eight_days_ago = h.clock.now() - timedelta(days=8)
    await h.publish(
        _found(cand, old_offer, h.id("f-old")).model_copy(update={"time": eight_days_ago}),
        _found(cand, old_shift, h.id("f-shift"), urgent=True).model_copy(
            update={"time": h.clock.now() - timedelta(hours=25)}  # an urgent shift is news for a day
        ),
        withdrawal(cand, told_offer, event_id=h.id("w-told")).model_copy(update={"time": eight_days_ago}),
        _found(cand, new_offer, h.id("f-new")),
    )
    expected = {
        (told_offer, "email"): ("suppressed", "withdrawn"),
        (told_offer, "sms"): ("suppressed", "withdrawn"),
        (new_offer, "email"): ("pending", None),
        (new_offer, "sms"): ("pending", None),
    }

    async def applied() -> bool:
        return await _states(h, cand) == expected

    await eventually(applied, what="the recent facts applied, the old match left out")
    too_old = h.service.metrics.registry.get_sample_value(
        "vocation_notifications_facts_too_old_total", {"kind": "match"}
    )
    assert too_old == 2
