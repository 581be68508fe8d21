"""Partners' webhook subscriptions: what may be subscribed to, how a delivery is signed and retried.

A partner (a département's portal, a job board) subscribes a URL to event types; every such event
on the platform's topics is POSTed there as its CloudEvent, signed the Standard Webhooks way
(`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`), in order per
entity, retried with backoff until the partner answers 2xx. Only events about offers and sites
can be subscribed to: nothing about a person ever leaves by webhook.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from vocation_shared.contracts.events import EVENT_TYPES
from vocation_shared.contracts.topics import Topic

SUBSCRIBABLE_TOPICS = (Topic.VACANCIES, Topic.ESTABLISHMENTS, Topic.TRAININGS, Topic.IMMERSION_SLOTS)
"""Topics about offers and employers' sites. Candidates, contacts, matches, bookings and
notifications are about people and are never sent out."""


def _about_a_person(model: type[Any]) -> bool:
    """Whether an event type's data names a person (e.g. the candidate who took a shift)."""
    data = model.model_fields["data"].annotation
    return "candidate_id" in getattr(data, "model_fields", {})


SUBSCRIBABLE_TYPES = frozenset(
    name
    for name, model in EVENT_TYPES.items()
    if model.TOPIC in SUBSCRIBABLE_TOPICS and not _about_a_person(model)
)
"""Event types of those topics whose data names nobody (`shift.accepted` names who took the shift)."""

PERSONAL_FIELDS = ("immersion_contact_email", "tutor_name")
"""Fields of offers and sites that name or reach a person: the tutor's address (for the
notifications service only) and the tutor's name (for the candidate who booked, told by the
notifications service). A partner learns the establishment and the place, never who tutors."""


def _withheld(model: type[Any]) -> tuple[str, ...]:
    data = model.model_fields["data"].annotation
    known = getattr(data, "model_fields", {})
    return tuple(name for name in PERSONAL_FIELDS if name in known)


WITHHELD_FIELDS: dict[str, tuple[str, ...]] = {
    name: withheld for name in sorted(SUBSCRIBABLE_TYPES) if (withheld := _withheld(EVENT_TYPES[name]))
}
"""Fields of `data` never sent out, per event type (every subscribable type whose data has one)."""


def outgoing_body(event_type: str, value: bytes) -> bytes:
    """The CloudEvent a partner receives: the record's bytes, without the withheld fields."""
    withheld = WITHHELD_FIELDS.get(event_type)
    if not withheld:
        return value
    document = orjson.loads(value)
    data = document.get("data")
    if isinstance(data, dict):
        for name in withheld:
            data.pop(name, None)
    return orjson.dumps(document)


SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of every secret, not one


class SubscriptionError(ValueError):
    """A subscription that cannot be made, with the reason for the operator."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """A partner's URL and the event types it receives there."""

    id: str
    partner: str
    url: str
    types: frozenset[str]
    secret: str


def check_subscription(url: str, types: list[str]) -> tuple[str, frozenset[str]]:
    """The URL and types of a new subscription, or SubscriptionError saying what is wrong.

    The URL must be https, except on a loopback address (a partner's test receiver).
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise SubscriptionError(f"not an http(s) URL: {url!r}")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise SubscriptionError("a webhook URL must be https (http only on a loopback address)")
    if not types:
        raise SubscriptionError("name at least one event type")
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        raise SubscriptionError(f"unknown event types: {', '.join(unknown)}")
    personal = sorted(set(types) - SUBSCRIBABLE_TYPES)
    if personal:
        raise SubscriptionError(
            f"not available by webhook (events about people): {', '.join(personal)}; "
            f"subscribable: events of {', '.join(str(t) for t in SUBSCRIBABLE_TOPICS)}"
        )
    return parts.geturl(), frozenset(types)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_secret() -> str:
    """A fresh signing secret (256 bits), shown once to the operator for the partner."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header of a delivery (Standard Webhooks, version 1)."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def retry_delay_s(attempts: int, initial_s: float, max_s: float) -> float:
    """How long to wait after the `attempts`-th failed attempt: doubling from `initial_s`, at most `max_s`."""
    return float(min(max_s, initial_s * 2 ** max(0, attempts - 1)))
