"""Allowed sending windows in local time (SMS between 08:00 and 21:30 Europe/Paris by default)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


def local_datetime(day: date, at: time, tz: ZoneInfo) -> datetime:
    """`day` at local time `at` in `tz` (an aware datetime; DST gaps resolve forward)."""
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=tz)
    # A wall time skipped by a DST change does not round-trip: move past the gap.
    roundtrip = aware.astimezone(ZoneInfo("UTC")).astimezone(tz)
    if roundtrip.replace(tzinfo=None) != naive:
        aware = (naive + timedelta(hours=1)).replace(tzinfo=tz)
    return aware


@dataclass(frozen=True, slots=True)
class DailyWindow:
    """A daily window [start, end) in a time zone; start == end means always open.

    A window whose end is before its start runs overnight (e.g. 22:00–06:00).
    """

    start: time
    end: time
    tz: ZoneInfo = PARIS

    @property
    def always_open(self) -> bool:
        """Whether the window never closes."""
        return self.start == self.end

    def contains(self, moment: datetime) -> bool:
        """Whether `moment` (aware) falls inside the window."""
        if self.always_open:
            return True
        local = moment.astimezone(self.tz).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_opening(self, moment: datetime) -> datetime:
        """`moment` itself when inside the window, else the next time the window opens."""
        if self.contains(moment):
            return moment
        local = moment.astimezone(self.tz)
        today_start = local_datetime(local.date(), self.start, self.tz)
        if today_start > local:
            return today_start
        return local_datetime(local.date() + timedelta(days=1), self.start, self.tz)


def parse_hhmm(text: str) -> time:
    """A time from 'HH:MM'."""
    hours, minutes = text.strip().split(":")
    return time(int(hours), int(minutes))
