"""The handlers and the delivery worker on one fake database, with fake senders, publisher and metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from vocation_shared.backoff import Backoff
from vocation_shared.contracts.vocabulary import Channel

from vocation_notifications.adapters.templates import Renderer
from vocation_notifications.core.facts import OutcomeEvents
from vocation_notifications.core.model import Contact
from vocation_notifications.core.policy import Policy
from vocation_notifications.delivery import DeliveryWorker
from vocation_notifications.handlers import Handlers
from vocation_notifications.ports import Templates
from vocation_notifications.testing.fakes import (
    FakeClock,
    FakeDatabase,
    FakeMetrics,
    FakePublisher,
    FakeRelay,
    FakeSender,
    FakeUnitsOfWork,
)
from vocation_notifications.testing.harness import match, phone_of

NOON = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)
FACTS = OutcomeEvents("urn:vocation:notifications")
RENDERING: dict[str, Any] = {
    "site_base_url": "https://vocation.test",
    "public_base_url": "https://notifications.vocation.test",
    "stop_number": "38100",
}
"""The test renderer's settings (its links are signed with the development link key)."""


class World:
    """A worker and the handlers on one fake database, with fake senders, publisher and metrics."""

    def __init__(self, *, backoff: Backoff | None = None, renderer: Templates | None = None) -> None:
        self.db = FakeDatabase()
        self.clock = FakeClock(NOON)
        self.email, self.sms, self.publisher = FakeSender(), FakeSender(), FakePublisher()
        self.metrics = FakeMetrics()
        units = FakeUnitsOfWork(self.db)
        self.handlers = Handlers(units, FACTS, self.clock, Policy(), "notif", metrics=self.metrics)
        self.worker = DeliveryWorker(
            units=units,
            facts=FACTS,
            renderer=renderer or Renderer(**RENDERING),
            email=self.email,
            sms=self.sms,
            relay=FakeRelay(self.db, self.publisher),
            clock=self.clock,
            policy=Policy(),
            backoff=backoff or Backoff(5.0, 3600.0, 8),
            metrics=self.metrics,
        )

    def know(self, cid: str, *channels: Channel, **fields: Any) -> None:
        """Store a contact for `cid` (both channels consented unless `channels` says otherwise)."""
        self.db.contacts[cid] = Contact(
            cid,
            f"{cid}@exemple.fr",
            phone_of(cid),
            frozenset(channels or (Channel.EMAIL, Channel.SMS)),
            **fields,
        )

    def row(self, cid: str, channel: Channel) -> dict[str, Any]:
        """The recipient's one outbox row on `channel`."""
        [row] = [r for r in self.db.rows_of(cid) if r["channel"] == channel]
        return row

    async def matched(self, cid: str, *offers: str) -> None:
        """Matches of `cid` with each offer, found now."""
        await self.handlers.on_matches([match(cid, o).model_copy(update={"time": NOON}) for o in offers])
