"""Partners' webhook subscriptions: what may be subscribed to, how a delivery is signed and retried.

A partner (a département's portal, a job board) subscribes a URL to event types; every such event
on the platform's topics is POSTed there as its CloudEvent, signed the Standard Webhooks way
(`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`), in order per
entity, retried with backoff (`vocation_shared.backoff`) until the partner answers 2xx. Events
about offers and sites can be subscribed to, and nothing else about a person leaves by webhook
but the applications to a partner's own vacancies: `application.submitted`, `.answered` and
`.withdrawn` go to the partner that owns the vacancy (`data.offer_id`) and to nobody else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from vocation_shared.contracts.events import EVENT_TYPES
from vocation_shared.contracts.topics import Topic

OFFER_TOPICS = (Topic.VACANCIES, Topic.ESTABLISHMENTS, Topic.TRAININGS, Topic.IMMERSION_SLOTS)
"""Topics about offers and employers' sites. Candidates, contacts, matches, bookings and
notifications are about people and are never sent out."""

OWNER_ONLY_TYPES = frozenset(
    {
        "fr.vocation.application.submitted.v1",
        "fr.vocation.application.answered.v1",
        "fr.vocation.application.withdrawn.v1",
    }
)
"""Applications (ids, the candidate's message, share flags, the summary; never a contact): sent
only to the partner that owns the vacancy applied to (`data.offer_id`), when the event is read.
The only webhooks carrying personal data. `match.declined`, on the same topic, is never sent."""

SUBSCRIBABLE_TOPICS = (*OFFER_TOPICS, Topic.APPLICATIONS)
"""The topics the fan-out reads."""


def _about_a_person(model: type[Any]) -> bool:
    """Whether an event type's data names a person (e.g. the candidate who took a shift)."""
    data = model.model_fields["data"].annotation
    return "candidate_id" in getattr(data, "model_fields", {})


SUBSCRIBABLE_TYPES = (
    frozenset(
        name
        for name, model in EVENT_TYPES.items()
        if model.TOPIC in OFFER_TOPICS and not _about_a_person(model)
    )
    | OWNER_ONLY_TYPES
)
"""Event types of the offer topics whose data names nobody (`shift.accepted` names who took the
shift), and the applications, which only the vacancy's owner receives."""


def owned_offer(event_type: str, document: Any) -> str | None:
    """The vacancy whose owner alone may receive this event (`data.offer_id`), or None for any subscriber.

    An owner-only event without an offer id (none the contracts accept) names "", which no one owns.
    """
    if event_type not in OWNER_ONLY_TYPES:
        return None
    data = document.get("data") if isinstance(document, dict) else None
    offer = data.get("offer_id") if isinstance(data, dict) else None
    return offer if isinstance(offer, str) else ""


PERSONAL_FIELDS = ("immersion_contact_email", "tutor_name", "recruiting_contact")
"""Fields of offers and sites that name or reach a person: the tutor's address (for the
notifications service only), the tutor's name (for the candidate who booked, told by the
notifications service) and the recruiting contact (for the notifications service, which sends
it the applications). A partner learns the establishment and the place, never who tutors or
recruits there."""


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
    """A partner's URL and the event types it receives there.

    `source`: the partner's CloudEvents source, which owns its entities (read with the active
    subscriptions: an application goes only to the owner of its vacancy).
    """

    id: str
    partner: str
    url: str
    types: frozenset[str]
    secret: str
    source: str | None = None


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
            f"subscribable: events of {', '.join(str(t) for t in OFFER_TOPICS)},"
            f" and {', '.join(sorted(OWNER_ONLY_TYPES))} (to the vacancy's owner only)"
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


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
"""Cloud instances' metadata services (AWS, GCP, Azure, OpenStack; AWS IPv6; Alibaba): credentials live there."""

_REFUSED_NETWORKS: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "an unspecified address"),
    ("127.0.0.0/8", "a loopback address"),
    ("10.0.0.0/8", "a private address (RFC 1918)"),
    ("172.16.0.0/12", "a private address (RFC 1918)"),
    ("192.168.0.0/16", "a private address (RFC 1918)"),
    ("100.64.0.0/10", "a shared address (CGNAT, RFC 6598)"),
    ("169.254.0.0/16", "a link-local address"),
    ("192.0.0.0/24", "an IETF protocol address"),
    ("192.0.2.0/24", "a documentation address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
    ("::/128", "an unspecified address"),
    ("::1/128", "a loopback address"),
    ("fc00::/7", "a private address (unique local)"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a site-local address"),
    ("ff00::/8", "a multicast address"),
    ("64:ff9b:1::/48", "a local NAT64 address"),
    ("100::/64", "a discard address"),
    ("2001:db8::/32", "a documentation address"),
)
REFUSED_NETWORKS: tuple[tuple[Network, str], ...] = tuple(
    (ipaddress.ip_network(n), why) for n, why in _REFUSED_NETWORKS
)
"""Where a webhook never goes (unless the operator allows it): the platform's inside and the unroutable."""


def refused_address(address: Address, allowed: Sequence[Network] = ()) -> str | None:
    """Why a webhook may not connect to `address`, or None when it may.

    An address embedding an IPv4 one (IPv4-mapped, NAT64, 6to4, Teredo) is judged by it too.
    `allowed` (the operator's `VOCATION_WEBHOOK_ALLOWED_NETWORKS`) wins over every rule.
    """
    if any(address in network for network in allowed if network.version == address.version):
        return None
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata address"
    for network, why in REFUSED_NETWORKS:
        if network.version == address.version and address in network:
            return f"{address} is {why}"
    if isinstance(address, ipaddress.IPv6Address):
        for embedded in _embedded_ipv4(address):
            reason = refused_address(embedded, allowed)
            if reason is not None:
                return f"{address} embeds {reason}"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found = [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
    if address.teredo is not None:
        found += list(address.teredo)
    if address in ipaddress.ip_network("64:ff9b::/96"):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found
