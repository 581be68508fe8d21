"""Daily digests: held match rows grouped per person and channel into one message."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from vocation_shared.contracts.vocabulary import Channel

from vocation_notifications.core.schedule import local_date
from vocation_notifications.core.windows import PARIS

MAX_ITEMS = 20


@dataclass(frozen=True, slots=True)
class HeldRow:
    """A match row waiting for its person's digest."""

    id: str
    recipient_id: str
    channel: Channel
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Digest:
    """One digest to send: to whom, how, which rows it gathers and what it shows."""

    recipient_id: str
    channel: Channel
    about_id: str
    row_ids: tuple[str, ...]
    payload: dict[str, Any]


def digest_about_id(now: datetime, tz: ZoneInfo = PARIS) -> str:
    """The digest's subject: one per local day (e.g. `digest-2026-11-22`)."""
    return f"digest-{local_date(now, tz).isoformat()}"


def build_digests(rows: Iterable[HeldRow], now: datetime, tz: ZoneInfo = PARIS) -> list[Digest]:
    """One digest per (person, channel), best matches first, at most `MAX_ITEMS` shown."""
    groups: dict[tuple[str, Channel], list[HeldRow]] = defaultdict(list)
    for row in rows:
        groups[(row.recipient_id, row.channel)].append(row)
    about = digest_about_id(now, tz)
    digests = []
    for (recipient_id, channel), members in sorted(groups.items()):
        items = sorted(
            (m.payload for m in members), key=lambda p: (-int(p.get("score", 0)), str(p.get("offer_id")))
        )
        digests.append(
            Digest(
                recipient_id,
                channel,
                about,
                tuple(m.id for m in members),
                {"count": len(items), "items": items[:MAX_ITEMS], "date": about.removeprefix("digest-")},
            )
        )
    return digests
