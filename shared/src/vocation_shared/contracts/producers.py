"""Who may publish each event type: partners, or a named service of the platform (the trust model).

Partners publish what happens in their world (vacancies, candidates, contacts, slots, sessions,
an employer's answer to an application from the owning partner's recruiter screens…).
Decisions of the platform (matches, bookings and refusals, notifications, consent changes from a
STOP reply or an unsubscribe link, what candidates do on its pages: apply, withdraw, decline) are published only by the service that makes them, with that
service's fixed CloudEvents `source`. Every `urn:vocation:` source is reserved for the services: a
partner may not be created with one, and a partner type read from Kafka with a reserved source
other than its producing service's is refused.

The gateway refuses an internal type from any partner (403); every consumer checks the pair
(type, source) with `forged_reason` and dead-letters a forged fact. With the cluster locked down,
Kafka ACLs enforce the same per service principal (a system writing straight to Kafka could
otherwise claim a service's source).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

RESERVED_SOURCE_PREFIX = "urn:vocation:"


class Service(StrEnum):
    """The platform's services that publish facts of their own."""

    EVENTS = "events"
    CATALOGUE = "catalogue"
    MATCHING = "matching"
    NOTIFICATIONS = "notifications"

    @property
    def source(self) -> str:
        """The CloudEvents `source` of every event this service publishes."""
        return RESERVED_SOURCE_PREFIX + self.value


PARTNERS = "partners"
"""The producer of partner facts: any partner, through the gateway."""

# type -> the producers allowed. A type absent from this table is a partner type only.
_PRODUCERS: dict[str, frozenset[str]] = {
    # Platform decisions: only the deciding service.
    "fr.vocation.match.found.v1": frozenset({Service.MATCHING}),
    "fr.vocation.match.withdrawn.v1": frozenset({Service.MATCHING}),
    "fr.vocation.immersion.booked.v1": frozenset({Service.CATALOGUE}),
    "fr.vocation.immersion.refused.v1": frozenset({Service.CATALOGUE}),
    "fr.vocation.notification.sent.v1": frozenset({Service.NOTIFICATIONS}),
    "fr.vocation.notification.failed.v1": frozenset({Service.NOTIFICATIONS}),
    "fr.vocation.notification.suppressed.v1": frozenset({Service.NOTIFICATIONS}),
    # The catalogue serves the pages where candidates apply, withdraw and decline.
    "fr.vocation.application.submitted.v1": frozenset({Service.CATALOGUE}),
    "fr.vocation.application.withdrawn.v1": frozenset({Service.CATALOGUE}),
    "fr.vocation.match.declined.v1": frozenset({Service.CATALOGUE}),
    # The employer's one-click answers (the catalogue's pages) and the owning partner's recruiter
    # screens: the gateway accepts a partner's answer only from the owner of the vacancy
    # (`data.offer_id`, events' core/ownership.py; its test_every_partner_type_has_an_owned_entity
    # keeps a partner type without such a rule from landing): docs/applications.md.
    "fr.vocation.application.answered.v1": frozenset({PARTNERS, Service.CATALOGUE}),
    # Shared types: partners publish their own, and one service publishes its decisions.
    "fr.vocation.immersion-slot.updated.v1": frozenset({PARTNERS, Service.CATALOGUE}),
    "fr.vocation.consent.updated.v1": frozenset({PARTNERS, Service.NOTIFICATIONS}),
}

# Consent changes that only the notifications service may state (a STOP reply, an unsubscribe link).
SERVICE_CONSENT_ORIGINS = frozenset({"sms_stop", "email_unsubscribe"})
CONSENT_UPDATED = "fr.vocation.consent.updated.v1"


def producers_of(event_type: str) -> frozenset[str]:
    """Who may publish `event_type`: `PARTNERS` and/or service names."""
    return _PRODUCERS.get(event_type, frozenset({PARTNERS}))


def is_partner_type(event_type: str) -> bool:
    """Whether partners may publish events of this type (through the gateway)."""
    return PARTNERS in producers_of(event_type)


def is_internal_only(event_type: str) -> bool:
    """Whether only a service of the platform may publish this type."""
    return not is_partner_type(event_type)


def is_reserved_source(source: str) -> bool:
    """Whether `source` is reserved for the platform's services."""
    return source.startswith(RESERVED_SOURCE_PREFIX)


def partner_types(all_types: Mapping[str, Any]) -> frozenset[str]:
    """The event types among `all_types` that partners may publish (what `--allow '*'` means)."""
    return frozenset(t for t in all_types if is_partner_type(t))


def _consent_origin(data: Any) -> str | None:
    change = data.get("change") if isinstance(data, Mapping) else getattr(data, "change", None)
    if change is None:
        return None
    origin = change.get("origin") if isinstance(change, Mapping) else getattr(change, "origin", None)
    return None if origin is None else str(origin)


def partner_forbidden_reason(event_type: str, data: Any) -> str | None:
    """Why a partner may not publish this event (type and payload), or None when it may.

    `data` is the event's payload, as a model or as JSON.
    """
    if not is_partner_type(event_type):
        owners = ", ".join(sorted(producers_of(event_type)))
        return f"{event_type} is an internal fact of the platform, published only by: {owners}"
    if event_type == CONSENT_UPDATED and _consent_origin(data) in SERVICE_CONSENT_ORIGINS:
        return "a consent change from a STOP reply or an unsubscribe link is stated only by the notifications service"
    return None


def forged_reason(event_type: str, source: str, data: Any = None) -> str | None:
    """Why an event read from Kafka cannot come from `source`, or None when it may.

    An internal fact must carry its producing service's source; a partner fact must not carry a
    reserved source, except the service that shares the type; a service may state only its own
    kind of consent change.
    """
    producers = producers_of(event_type)
    services = {str(p) for p in producers if p != PARTNERS}
    service_sources = {Service(s).source for s in services}
    if source in service_sources:
        if event_type == CONSENT_UPDATED and _consent_origin(data) not in SERVICE_CONSENT_ORIGINS:
            return "the notifications service states only STOP and unsubscribe consent changes"
        return None
    if PARTNERS not in producers:
        expected = ", ".join(sorted(service_sources))
        return f"{event_type} is published only with source {expected}, not {source[:100]!r}"
    if is_reserved_source(source):
        return f"source {source[:100]!r} is reserved for the platform's services"
    return partner_forbidden_reason(event_type, data)
