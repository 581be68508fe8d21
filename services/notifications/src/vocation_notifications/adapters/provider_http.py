"""What the providers' HTTP APIs share (Brevo's SMS and email): Retry-After, and the lists of events they keep."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime
from typing import Any

import httpx

from vocation_notifications.ports import DeliveryError


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


async def provider_events(
    client: httpx.AsyncClient, path: str, params: dict[str, Any], what: str
) -> list[dict[str, Any]]:
    """The events the provider lists at `path` for `params` (Brevo's `{"events": [...]}`; `{}` for none).

    Raises a transient `DeliveryError` whenever the provider cannot tell (unreachable, an error
    status, an answer that is not that JSON): the caller must never take "cannot tell" for "has
    nothing" and send again blindly.
    """
    try:
        response = await client.get(path, params=params)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{what} unreachable: {type(exc).__name__}", permanent=False) from exc
    if not response.is_success:
        raise DeliveryError(
            f"{what} lookup answered {response.status_code}",
            permanent=False,
            retry_after_s=parse_retry_after(response.headers.get("retry-after")),
        )
    try:
        data = response.json()
    except ValueError as exc:
        raise DeliveryError(f"{what} lookup answered no JSON", permanent=False) from exc
    events = data.get("events", []) if isinstance(data, dict) else None
    if not isinstance(events, list):
        raise DeliveryError(f"{what} lookup answered no list of events", permanent=False)
    return [e for e in events if isinstance(e, dict)]
