"""The demo partner and its API key: given, remembered from an earlier run, or made by the operator CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx

from vocation_local.demo.gateway import DemoError, key_works
from vocation_local.demo.narrator import Narrator
from vocation_local.partners import PartnerCommandError, create_partner, rotate_key

DEFAULT_SOURCE = "urn:partner:demo-departements-ain-landes"  # urn:vocation: is reserved for the services
PARTNER_FILE = "demo-partner.json"


def obtain_partner(
    client: httpx.Client,
    events_url: str,
    database_url: str,
    state_dir: Path,
    name: str,
    given_key: str | None,
    narrator: Narrator,
) -> tuple[str, str]:
    """The demo partner's (API key, source): given, remembered from an earlier run, or created now."""
    if given_key:
        return given_key, DEFAULT_SOURCE
    saved = state_dir / PARTNER_FILE
    if saved.exists():
        known = json.loads(saved.read_text(encoding="utf-8"))
        if known.get("name") == name and key_works(client, events_url, known["key"]):
            narrator.say(f"Partner «{name}» from an earlier run (its key is kept in {saved}).")
            return str(known["key"]), str(known["source"])
    environment = {**os.environ, "VOCATION_DATABASE_URL": database_url, "VOCATION_LOG_JSON": "false"}
    try:
        key = create_partner(environment, name, DEFAULT_SOURCE).key
        narrator.say(
            f"Created the partner «{name}» with the operator CLI "
            f"(vocation partners create {name} --source {DEFAULT_SOURCE} --allow '*')."
        )
    except PartnerCommandError as exc:
        if "exists already" not in str(exc):
            raise DemoError(str(exc)) from exc
        try:
            key = rotate_key(environment, name).key
        except PartnerCommandError as again:
            raise DemoError(str(again)) from again
        narrator.say(f"The partner «{name}» exists: gave it a new API key (vocation partners rotate-key).")
    state_dir.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps({"name": name, "key": key, "source": DEFAULT_SOURCE}), encoding="utf-8")
    saved.chmod(0o600)
    return key, DEFAULT_SOURCE
