"""The delivery worker (`delivery.DeliveryWorker`) on the fake unit of work, senders and publisher:
what is sent, what is recorded and what is published, once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from vocation_notifications.adapters.templates import Renderer
from vocation_notifications.core.backoff import Backoff
from vocation_notifications.core.facts import OutcomeEvents
from vocation_notifications.core.model import Contact
from vocation_notifications.core.policy import Policy
from vocation_notifications.delivery import DeliveryWorker
from vocation_notifications.handlers import Handlers
from vocation_notifications.ports import DeliveryError
from vocation_notifications.testing import (
    FakeClock,
    FakeDatabase,
    FakeMetrics,
    FakePublisher,
    FakeRelay,
    FakeSender,
    FakeUnitsOfWork,
    match,
    phone_of,
)
from vocation_shared.contracts import events as ev
from vocation_shared.contracts.vocabulary import Channel

pytestmark = pytest.mark.unit

NOON = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)
FACTS = OutcomeEvents("urn:vocation:notifications")


class World:
    """A worker and the handlers on one fake database, with fake senders and publisher."""

    def __init__(self) -> None:
        self.db = FakeDatabase()
        self.clock = FakeClock(NOON)
        self.email, self.sms, self.publisher = FakeSender(), FakeSender(), FakePublisher()
        self.metrics = FakeMetrics()
        units = FakeUnitsOfWork(self.db)
        self.handlers = Handlers(units, FACTS, self.clock, Policy(), "notif", metrics=self.metrics)
        self.worker = DeliveryWorker(
            units=units,
            facts=FACTS,
            renderer=Renderer(
                site_base_url="https://vocation.test",
                public_base_url="https://notifications.vocation.test",
                signing_secret="s" * 48,
                stop_number="38100",
            ),
            email=self.email,
            sms=self.sms,
            relay=FakeRelay(self.db, self.publisher),
            clock=self.clock,
            policy=Policy(),
            backoff=Backoff(),
            metrics=self.metrics,
        )

    def know(self, cid: str) -> None:
        self.db.contacts[cid] = Contact(
            cid, f"{cid}@exemple.fr", phone_of(cid), frozenset({Channel.EMAIL, Channel.SMS})
        )

    async def matched(self, cid: str, *offers: str) -> None:
        await self.handlers.on_matches([match(cid, o).model_copy(update={"time": NOON}) for o in offers])


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
