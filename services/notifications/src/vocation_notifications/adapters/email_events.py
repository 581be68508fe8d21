"""The email provider's activity log (Brevo's API shape): did it accept the message with this Message-ID?

SMTP itself cannot be asked what a server accepted. A provider that relays our SMTP mail and keeps
its events (Brevo: GET /v3/smtp/statistics/events?messageId=…) can: after a crash mid-send, the
delivery worker asks it before sending again, as it does for SMS.
"""

from __future__ import annotations

import httpx

from vocation_notifications.adapters.provider_http import provider_events
from vocation_notifications.ports import Receipt


class BrevoEmailEvents:
    """`GET /v3/smtp/statistics/events?messageId=…` with the `api-key` header; one pooled client."""

    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = 15.0) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"api-key": api_key, "accept": "application/json"},
            timeout=timeout_s,
        )

    async def lookup(self, message_id: str) -> Receipt | None:
        """The provider's record of the message with this Message-ID, or None if it has none.

        Raises a transient `DeliveryError` when the provider cannot tell: never re-send blindly.
        """
        events = await provider_events(
            self._client,
            "/v3/smtp/statistics/events",
            {"messageId": message_id, "limit": 1, "days": 30},
            "email provider",
        )
        return Receipt(message_id) if events else None

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.aclose()
