"""The rules a deployment chooses: SMS windows, daily caps, digest and reminder hours."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from zoneinfo import ZoneInfo

from vocation_shared.contracts.vocabulary import Channel, NotificationPurpose

from vocation_notifications.core.windows import PARIS, DailyWindow

CAPPED_PURPOSES = frozenset({NotificationPurpose.MATCH, NotificationPurpose.URGENT_SHIFT})
"""Purposes counted against, and stopped by, the daily caps. Confirmations, refusals, reminders
and the digest (which the candidate chose) are never capped."""


@dataclass(frozen=True, slots=True)
class Policy:
    """Sending rules of a deployment."""

    sms_window: DailyWindow = field(default_factory=lambda: DailyWindow(time(8, 0), time(21, 30)))
    urgent_sms_window: DailyWindow = field(default_factory=lambda: DailyWindow(time(6, 0), time(23, 0)))
    daily_caps: Mapping[Channel, int] = field(default_factory=lambda: {Channel.EMAIL: 10, Channel.SMS: 3})
    digest_at: time = time(18, 0)
    reminder_at: time = time(10, 0)
    contact_grace: timedelta = timedelta(minutes=5)
    tz: ZoneInfo = PARIS

    def cap(self, channel: Channel) -> int:
        """Most capped messages a person may get on `channel` per local day."""
        return self.daily_caps.get(channel, 1_000_000)
