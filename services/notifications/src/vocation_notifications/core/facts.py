"""The facts this service publishes on `notifications` and `candidate-contacts` (never an email or phone)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.vocabulary import SuppressionReason

from vocation_notifications.core.model import NotificationRef, OutboxRow


class OutcomeEvents:
    """Builds the `notifications` facts, with deterministic ids (a redelivery publishes the same)."""

    def __init__(self, source: str) -> None:
        self.source = source

    @staticmethod
    def _common(row: OutboxRow | NotificationRef) -> dict[str, Any]:
        return {
            "notification_id": str(row.id),
            "recipient_id": row.recipient_id,
            "channel": row.channel,
            "purpose": row.purpose,
            "about_id": row.about_id,
        }

    def opt_out_restated(self, data: p.ConsentUpdated, now: datetime) -> AnyEvent:
        """An opt-out said again on `candidate-contacts` after a partner's state claimed the channel,
        so that the topic's newest record of the candidate (what compaction keeps) carries it.
        One id per (candidate, channel, partner version): restated once per claim."""
        event_id = f"{data.candidate_id}.opt-out.{data.change.channel}.v{data.version}"
        return ev.ConsentUpdated.build(data, source=self.source, id=event_id, time=now)

    def opt_out(self, data: p.ConsentUpdated, now: datetime) -> AnyEvent:
        """A STOP reply or an unsubscribe, as the candidate's new full state."""
        return ev.ConsentUpdated.build(data, source=self.source, time=now)

    def sent(self, row: OutboxRow, at: datetime, provider_id: str | None, attempts: int) -> AnyEvent:
        """The provider accepted the message."""
        data = p.NotificationSent(
            **self._common(row),
            sent_at=at,
            provider_message_id=(provider_id or None) and provider_id[:300],
            attempts=max(1, attempts),
        )
        return ev.NotificationSent.build(data, source=self.source, id=f"{row.id}.sent", time=at)

    def failed(
        self,
        row: OutboxRow,
        at: datetime,
        error: str,
        *,
        permanent: bool,
        attempts: int,
        next_at: datetime | None,
    ) -> AnyEvent:
        """An attempt failed; `permanent` tells whether it is the end."""
        data = p.NotificationFailed(
            **self._common(row),
            error=error[:300] or "error",
            permanent=permanent,
            attempts=max(1, attempts),
            next_attempt_at=next_at,
        )
        return ev.NotificationFailed.build(
            data, source=self.source, id=f"{row.id}.failed.{attempts}", time=at
        )

    def suppressed(self, row: OutboxRow | NotificationRef, at: datetime, why: SuppressionReason) -> AnyEvent:
        """Deliberately not sent."""
        data = p.NotificationSuppressed(**self._common(row), why=why)
        return ev.NotificationSuppressed.build(data, source=self.source, id=f"{row.id}.suppressed", time=at)
