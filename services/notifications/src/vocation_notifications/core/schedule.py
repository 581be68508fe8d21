"""When things happen in local time: the daily digest, the immersion reminder, the local day."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from vocation_notifications.core.windows import PARIS, local_datetime


def next_digest_at(now: datetime, at: time, tz: ZoneInfo = PARIS) -> datetime:
    """The next daily digest time strictly after `now` (today's if still ahead, else tomorrow's)."""
    local = now.astimezone(tz)
    today = local_datetime(local.date(), at, tz)
    if today > local:
        return today
    return local_datetime(local.date() + timedelta(days=1), at, tz)


def reminder_at(start: date, at: time, tz: ZoneInfo = PARIS) -> datetime:
    """When to remind someone of an immersion starting on `start`: the day before at `at`."""
    return local_datetime(start - timedelta(days=1), at, tz)


def local_day_bounds(now: datetime, tz: ZoneInfo = PARIS) -> tuple[datetime, datetime]:
    """The start and end of `now`'s local day (what a per-day cap counts)."""
    day = now.astimezone(tz).date()
    return local_datetime(day, time(0, 0), tz), local_datetime(day + timedelta(days=1), time(0, 0), tz)


def local_date(now: datetime, tz: ZoneInfo = PARIS) -> date:
    """`now`'s date in `tz`."""
    return now.astimezone(tz).date()
