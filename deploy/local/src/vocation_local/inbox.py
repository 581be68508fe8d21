"""What a local platform sent: the development mailbox's messages and the SMS sink's lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx


def mailbox_messages(mailbox_url: str, client: httpx.Client | None = None) -> list[dict[str, Any]]:
    """Every message the development mailbox at `mailbox_url` accepted, in arrival order."""
    getter = client.get if client is not None else httpx.get
    messages: list[dict[str, Any]] = getter(f"{mailbox_url}/api/messages", timeout=10).json()
    return messages


def sink_sms(sms_file: Path, offset: int = 0) -> list[dict[str, Any]]:
    """Every SMS the sink wrote to `sms_file` from byte `offset`; a line still being written is left out."""
    if not sms_file.exists():
        return []
    with sms_file.open("rb") as handle:
        handle.seek(offset)
        lines = handle.read().decode("utf-8", errors="replace").splitlines()
    found = []
    for line in lines:
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found
