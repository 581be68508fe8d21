"""Partners and their API keys: random keys shown once, stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from vocation_shared.contracts.events import EVENT_TYPES
from vocation_shared.contracts.producers import (
    RESERVED_SOURCE_PREFIX,
    is_partner_type,
    is_reserved_source,
    partner_types,
)

KEY_PREFIX = "vk_"
ALL_TYPES = "*"
PARTNER_TYPES = partner_types(EVENT_TYPES)
"""What `*` means: every type partners may publish, never an internal fact of the platform."""


@dataclass(frozen=True, slots=True)
class Partner:
    """A system allowed to publish: the `source` it must use and the event types it may send."""

    name: str
    source: str
    allowed_types: frozenset[str]
    rate_per_s: float | None = None
    burst: float | None = None
    rome_v3: bool = False
    created_at: datetime | None = None
    revoked_at: datetime | None = None
    key_hint: str = ""

    def may_send(self, event_type: str) -> bool:
        """Whether this partner may publish events of `event_type`.

        Never an internal fact, whatever is stored (a partner created with `*`, or with an internal
        type, before the contracts said who publishes what).
        """
        if event_type not in PARTNER_TYPES:
            return False
        return ALL_TYPES in self.allowed_types or event_type in self.allowed_types


def new_api_key() -> str:
    """A fresh random API key (256 bits), to show once to the operator."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> bytes:
    """What is stored and looked up: SHA-256 suffices for keys of 256 random bits."""
    return hashlib.sha256(key.encode("utf-8", errors="surrogatepass")).digest()


def key_hint(key: str) -> str:
    """The first characters of a key, to recognise it in listings without revealing it."""
    return key[: len(KEY_PREFIX) + 4] + "…"


class UnknownEventType(ValueError):
    """An allowed type that is not an event type of the contracts, or not one partners may publish."""


class ReservedSource(ValueError):
    """A partner source in the namespace reserved for the platform's services."""


def check_allowed_types(types: list[str]) -> frozenset[str]:
    """The allowed set for a partner ("*" is every partner type).

    Refuses types the contracts do not know, and internal facts of the platform (a match, a
    booking, a notification…), which only the service that decides them publishes.
    """
    unknown = [t for t in types if t != ALL_TYPES and t not in EVENT_TYPES]
    if unknown:
        raise UnknownEventType(f"unknown event types: {', '.join(unknown)}")
    internal = sorted({t for t in types if t != ALL_TYPES and not is_partner_type(t)})
    if internal:
        raise UnknownEventType(
            f"internal facts of the platform, published only by its services, never by a partner: "
            f"{', '.join(internal)}"
        )
    if not types:
        raise UnknownEventType("a partner needs at least one allowed event type")
    return frozenset(types)


def check_source(source: str) -> str:
    """A partner's CloudEvents source; refuses the namespace of the platform's services."""
    if is_reserved_source(source):
        raise ReservedSource(
            f"sources starting with {RESERVED_SOURCE_PREFIX!r} are reserved for the platform's services"
        )
    if not source.strip():
        raise ReservedSource("a partner needs a source (a URI such as urn:partner:<name>)")
    return source
