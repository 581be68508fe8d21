"""SMS providers: Brevo's transactional SMS HTTP API, and a local sink that keeps messages for development."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import httpx

from vocation_notifications.adapters.provider_http import parse_retry_after, provider_events
from vocation_notifications.ports import DeliveryError, Receipt, SmsMessage

# httpcore imports `sniffio` on every request when it is not installed (a failed import is not
# cached), which costs ~0.4 ms per call here; record its absence once, so the import fails fast.
if importlib.util.find_spec("sniffio") is None:
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]

TRANSIENT_STATUSES = frozenset({401, 403, 408, 409, 425, 429})
"""Besides 5xx: rate limits, timeouts, and auth errors (a configuration to fix, not a bad message)."""


class BrevoSmsSender:
    """Brevo's API shape: POST /v3/transactionalSMS/send, `api-key` header, tag = notification id.

    The tag lets `lookup` find a message again (GET /v3/transactionalSMS/statistics/events).
    One `httpx.AsyncClient` keeps its connections alive across sends.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        sender: str = "Vocation",
        timeout_s: float = 15.0,
        max_connections: int = 32,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"api-key": api_key, "accept": "application/json"},
            timeout=timeout_s,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )
        self._sender = sender

    async def send(self, message: SmsMessage) -> Receipt:
        """Send one SMS; 429 and 5xx are transient (honouring Retry-After), other 4xx permanent."""
        body = {
            "sender": self._sender,
            "recipient": message.to.lstrip("+"),
            "content": message.text,
            "type": "transactional",
            "tag": message.notification_id,
            "unicodeEnabled": message.unicode,
        }
        try:
            response = await self._client.post("/v3/transactionalSMS/send", json=body)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"SMS provider unreachable: {type(exc).__name__}", permanent=False) from exc
        if response.is_success:
            data = _json(response)
            reference = data.get("messageId", data.get("reference"))
            return Receipt(str(reference) if reference is not None else None)
        status = response.status_code
        transient = status >= 500 or status in TRANSIENT_STATUSES
        raise DeliveryError(
            f"SMS provider answered {status}",
            permanent=not transient,
            retry_after_s=parse_retry_after(response.headers.get("retry-after")),
        )

    async def lookup(self, notification_id: str) -> Receipt | None:
        """The provider's record of the SMS tagged `notification_id`, if it has one.

        Raises a transient `DeliveryError` when the provider cannot tell: never re-send blindly.
        """
        events = await provider_events(
            self._client,
            "/v3/transactionalSMS/statistics/events",
            {"tags": notification_id, "limit": 1, "days": 30},
            "SMS provider",
        )
        if not events:
            return None
        reference = events[0].get("messageId")
        return Receipt(str(reference) if reference is not None else None)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.aclose()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class LocalSmsSink:
    """For development: keeps SMS in memory and, if given a file, appends them as JSON lines."""

    def __init__(self, path: Path | None = None) -> None:
        self.sent: list[SmsMessage] = []
        self._path = path

    async def send(self, message: SmsMessage) -> Receipt:
        """Store the SMS."""
        self.sent.append(message)
        if self._path is not None:
            line = {"id": message.notification_id, "to": message.to, "text": message.text}
            await asyncio.to_thread(self._append, json.dumps(line, ensure_ascii=False) + "\n")
        return Receipt(f"sink-{message.notification_id}")

    def _append(self, line: str) -> None:
        assert self._path is not None
        with self._path.open("a", encoding="utf-8") as out:
            out.write(line)

    async def lookup(self, notification_id: str) -> Receipt | None:
        """The stored SMS with this id, if any: in memory, or in the file (which outlives a crash)."""
        if any(m.notification_id == notification_id for m in self.sent) or (
            self._path is not None and await asyncio.to_thread(self._in_file, notification_id)
        ):
            return Receipt(f"sink-{notification_id}")
        return None

    def _in_file(self, notification_id: str) -> bool:
        assert self._path is not None
        if not self._path.exists():
            return False
        with self._path.open(encoding="utf-8") as lines:
            for line in lines:
                with contextlib.suppress(ValueError):
                    if json.loads(line).get("id") == notification_id:
                        return True
        return False

    async def aclose(self) -> None:
        """Nothing to release."""
