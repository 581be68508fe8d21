"""The platform's HTTP APIs as the demo partner sees them: the gateway, the catalogue, health checks."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

PARIS = ZoneInfo("Europe/Paris")


class DemoError(Exception):
    """The demo cannot go on; the message says what to do."""


@dataclass
class Gateway:
    """The events gateway, as the demo partner sees it."""

    url: str
    key: str
    source: str
    client: httpx.Client
    sent: int = 0

    def event(self, event_type: str, subject: str, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "specversion": "1.0",
            "id": f"demo-{uuid.uuid4().hex}",
            "source": self.source,
            "type": event_type,
            "subject": subject,
            "time": datetime.now(PARIS).isoformat(timespec="milliseconds"),
            "datacontenttype": "application/json",
            "data": data,
        }

    def publish(self, events: Sequence[dict[str, Any]]) -> None:
        """Send events in one batch; every one must be accepted."""
        answer = self.client.post(
            f"{self.url}/v1/events/batch",
            content=json.dumps(list(events)),
            headers={
                "Authorization": f"Bearer {self.key}",
                "Content-Type": "application/cloudevents-batch+json",
            },
            timeout=30,
        )
        if answer.status_code != 202:
            raise DemoError(f"the gateway answered {answer.status_code}: {answer.text[:500]}")
        results = answer.json().get("results", [])
        refused = [r for r in results if r.get("status") != "accepted"]
        if refused:
            raise DemoError(f"the gateway did not accept every event: {json.dumps(refused)[:800]}")
        self.sent += len(events)


def key_works(client: httpx.Client, events_url: str, key: str) -> bool:
    answer = client.post(
        f"{events_url}/v1/events/batch",
        content="[]",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/cloudevents-batch+json"},
        timeout=10,
    )
    return answer.status_code != 401


def ready(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(f"{url}/health/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def mailbox_ready(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(f"{url}/api/messages", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for_slot(client: httpx.Client, catalogue_url: str, slot_id: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.get(f"{catalogue_url}/v1/immersions/{slot_id}", timeout=5).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def wait_until_not_open(client: httpx.Client, catalogue_url: str, offer_id: str, timeout: float) -> None:
    """Wait until the catalogue lists the offer as no longer open (or `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            answer = client.get(f"{catalogue_url}/v1/offers/{offer_id}", timeout=5)
            if answer.status_code == 200 and answer.json().get("status") != "open":
                return
        time.sleep(0.2)
