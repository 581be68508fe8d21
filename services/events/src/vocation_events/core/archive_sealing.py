"""Which fields of an archived event are personal data, and how they are sealed, opened and masked.

The archive keeps every event for audit and replay; the names, emails, phones and free texts about
a person in them are sealed with the contacts keys (`VOCATION_CONTACTS_KEYS`, AES-256-GCM, the
same keys and rotation as the notifications' contacts). A sealed value is bound to its event
(source and id) and its field: copied to another event or field, it does not open.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from vocation_shared.sealing import PREFIX, ContactCipher

MASK = "[scellé]"
"""What `vocation events show` prints in place of a personal value (without `--reveal`)."""

_CONTACT = (("first_name",), ("email",), ("phone",))
_REGISTRATION_CONTACT = tuple(("contact", *path) for path in _CONTACT)
_RECRUITER = (
    ("recruiting_contact", "name"),
    ("recruiting_contact", "email"),
    ("recruiting_contact", "phone"),
)

SEALED_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    # A registration reaches `candidates` without its contact (the gateway splits it), but a
    # record written straight to Kafka may still carry one.
    "fr.vocation.candidate.registered.v1": _REGISTRATION_CONTACT,
    "fr.vocation.apprentice.registered.v1": _REGISTRATION_CONTACT,
    # The candidate's first name, email and phone.
    "fr.vocation.contact.registered.v1": _CONTACT,
    "fr.vocation.consent.updated.v1": _CONTACT,
    # The tutor's (a person's) professional address; the recruiter's name, address and phone.
    "fr.vocation.establishment.registered.v1": (("immersion_contact_email",), *_RECRUITER),
    "fr.vocation.establishment.updated.v1": (("immersion_contact_email",), *_RECRUITER),
    "fr.vocation.vacancy.posted.v1": _RECRUITER,
    "fr.vocation.vacancy.updated.v1": _RECRUITER,
    "fr.vocation.vacancy.closed.v1": _RECRUITER,
    # The tutor's name.
    "fr.vocation.immersion-slot.offered.v1": (("tutor_name",),),
    "fr.vocation.immersion-slot.updated.v1": (("tutor_name",),),
    "fr.vocation.immersion-slot.closed.v1": (("tutor_name",),),
    # Free texts written by or about a candidate: they may name people or give an address.
    "fr.vocation.immersion.requested.v1": (("motivation",),),
    "fr.vocation.immersion.booked.v1": (("motivation",),),
    "fr.vocation.immersion.refused.v1": (("motivation",),),
    "fr.vocation.immersion.cancelled.v1": (("reason",),),
    "fr.vocation.candidate.withdrawn.v1": (("reason",),),
    "fr.vocation.application.submitted.v1": (("message",),),
    # A provider's error text may quote the address it could not deliver to.
    "fr.vocation.notification.failed.v1": (("error",),),
}
"""Per event type, the paths under `data` holding a person's name, email, phone or words.

Not sealed, because they name no person: establishment, employer, provider and school names,
addresses of sites, offer titles, ids (a candidate id is a pseudonym; erasure removes it)."""


class ArchiveSeal:
    """Seals the personal fields of an event before it is archived, and opens or masks them after."""

    def __init__(self, cipher: ContactCipher) -> None:
        self._cipher = cipher

    @property
    def enabled(self) -> bool:
        """Whether values are sealed (keys configured); without keys they are stored in clear."""
        return self._cipher.enabled

    @staticmethod
    def concerns(event_type: str) -> bool:
        """Whether events of this type have fields to seal."""
        return event_type in SEALED_FIELDS

    def seal(self, event: dict[str, Any]) -> None:
        """Seal the event's personal fields in place (nothing without keys, or already sealed)."""
        if not self._cipher.enabled:
            return
        for data, name, path in _fields(event):
            value = data[name]
            if isinstance(value, str) and not value.startswith(PREFIX):
                data[name] = self._cipher.seal(value, _binding(event), path)

    def opened(self, event: dict[str, Any]) -> dict[str, Any]:
        """A copy of an archived event with its sealed fields opened (clear values read as they are).

        Raises `ContactKeyError` when a value was sealed under a key not configured.
        """
        found = list(_fields(event))
        if not found:
            return event
        opened = copy.deepcopy(event)
        for data, name, path in _fields(opened):
            value = data[name]
            if isinstance(value, str):
                data[name] = self._cipher.open(value, _binding(opened), path)
        return opened

    @staticmethod
    def masked(event: dict[str, Any]) -> dict[str, Any]:
        """A copy with every personal field shown as `[scellé]`, sealed or stored in clear."""
        if not list(_fields(event)):
            return event
        masked = copy.deepcopy(event)
        for data, name, _ in _fields(masked):
            if isinstance(data[name], str):
                data[name] = MASK
        return masked


def _binding(event: dict[str, Any]) -> str:
    """What a sealed value is bound to: its event's source and id (with the field, the associated data)."""
    return f"{event.get('source')}\x00{event.get('id')}"


def _fields(event: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str, str]]:
    """(the mapping holding it, its key, its dotted path) of each personal field present."""
    paths = SEALED_FIELDS.get(str(event.get("type")), ())
    for path in paths:
        holder: Any = event.get("data")
        for part in path[:-1]:
            holder = holder.get(part) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and holder.get(path[-1]) is not None:
            yield holder, path[-1], "data." + ".".join(path)
