"""The rules a deployment chooses: SMS windows, daily caps, digest and reminder hours."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from vocation_shared.contracts.vocabulary import Channel, NotificationPurpose

from vocation_notifications.core.windows import PARIS, DailyWindow

CAPPED_PURPOSES = frozenset({NotificationPurpose.MATCH, NotificationPurpose.URGENT_SHIFT})
"""Purposes counted against, and stopped by, the daily caps. Confirmations, refusals, reminders
and the digest (which the candidate chose) are never capped."""

SLOT_PURPOSES = frozenset(
    {
        NotificationPurpose.IMMERSION_BOOKED,
        NotificationPurpose.IMMERSION_BOOKED_HOST,
        NotificationPurpose.IMMERSION_REFUSED,
        NotificationPurpose.IMMERSION_REMINDER,
    }
)
"""Purposes whose message shows the immersion slot (its title, site, tutor): they wait, like a
missing contact, for a slot the service has not read yet (another topic, which may lag)."""


PROMPT_PURPOSES = frozenset(
    {
        NotificationPurpose.APPLICATION_RECEIVED,
        NotificationPurpose.APPLICATION_ANSWERED,
        NotificationPurpose.LINK_RENEWED,
    }
)
"""Purposes of a message that a person's click just asked for (« Je suis intéressé(e) », an
employer's answer, a fresh link): the delivery worker takes them before the queue of match
messages, so a backlog of offers (thousands of match emails after a busy hour) does not delay
them. Stored on the row (`outbox.prompt`) when it is planned."""

GUEST_PURPOSES = frozenset(
    {
        NotificationPurpose.IMMERSION_BOOKED_HOST,
        NotificationPurpose.APPLICATION_RECEIVED,
        NotificationPurpose.APPLICATION_REMINDER,
    }
)
"""Purposes of a professional's message about a candidate (`payload.candidate_id`): it names them by
their first name, and an application's shows the email or phone they chose to share."""


@dataclass(frozen=True, slots=True)
class Policy:
    """Sending rules of a deployment."""

    sms_window: DailyWindow = field(default_factory=lambda: DailyWindow(time(8, 0), time(21, 30)))
    urgent_sms_window: DailyWindow = field(default_factory=lambda: DailyWindow(time(6, 0), time(23, 0)))
    daily_caps: Mapping[Channel, int] = field(default_factory=lambda: {Channel.EMAIL: 10, Channel.SMS: 3})
    digest_at: time = time(18, 0)
    reminder_at: time = time(10, 0)
    contact_grace: timedelta = timedelta(minutes=5)
    notice_max_age: timedelta = timedelta(days=7)
    """Facts (a match, a booking) older than this when they arrive are not told to anyone."""
    urgent_notice_max_age: timedelta = timedelta(hours=24)
    """An urgent replacement shift is news for a day at most: the shift is filled or gone after."""
    tz: ZoneInfo = PARIS

    def too_old(self, fact_time: datetime, now: datetime, *, urgent: bool = False) -> bool:
        """Whether a fact that happened at `fact_time` is too old to be told now (late, or replayed)."""
        return now - fact_time > (self.urgent_notice_max_age if urgent else self.notice_max_age)

    def cap(self, channel: Channel) -> int:
        """Most capped messages a person may get on `channel` per local day."""
        return self.daily_caps.get(channel, 1_000_000)
