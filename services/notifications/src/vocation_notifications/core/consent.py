"""Consent: a contact from its contract, opt-outs that stick (suppressions), and what lifts them.

A per-channel **suppression** (a STOP reply, an unsubscribe link, a withdrawal stated by a partner
or by the candidate) keeps the channel off whatever a partner's later full state claims. Only an
explicit **re-consent from the candidate** lifts it: a `consent-updated` whose change is
`consented=true`, origin `candidate`, for that channel, and whose `at` is newer than the
suppression. Per (candidate, channel) the record keeps the newest suppression time and the newest
re-consent time (a last-writer-wins register: the result does not depend on the order events are
read in, so a replay or a batch gives the same answer). The channels a contact may be reached on
are those its partner's state claims minus the suppressed ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from vocation_shared.contracts.payloads import CandidateContact, ConsentChange, ConsentUpdated
from vocation_shared.contracts.vocabulary import Channel, ConsentOrigin

from vocation_notifications.core.model import Contact

STOP_WORDS = frozenset(
    {"STOP", "STOPSMS", "STOP SMS", "ARRET", "ARRÊT", "DESINSCRIRE", "DÉSINSCRIRE", "UNSUBSCRIBE"}
)


def contact_from(data: CandidateContact) -> Contact:
    """The domain contact of a `candidate-contacts` payload (ContactRegistered or ConsentUpdated)."""
    return Contact(
        candidate_id=data.candidate_id,
        email=str(data.email) if data.email is not None else None,
        phone=data.phone,
        channels=frozenset(data.channels),
        digest=data.digest,
        urgent_shift_sms=data.urgent_shift_sms,
        language=data.language,
        version=data.version,
        first_name=data.first_name,
    )


def without_channel(contact: Contact, channel: Channel) -> Contact:
    """The contact as published after an opt-out of `channel`: the same version (the version is the
    partner's, so that its later changes are not taken for stale), the channel off."""
    return replace(
        contact,
        channels=contact.channels - {channel},
        urgent_shift_sms=False if channel is Channel.SMS else contact.urgent_shift_sms,
    )


def opt_out_state(contact: Contact, channel: Channel, origin: ConsentOrigin, at: datetime) -> ConsentUpdated:
    """The `consent-updated` this service publishes for an opt-out of `channel` (or restates): the
    contact's full state (compaction keeps the contact) with that channel off, at the partner's version."""
    state = without_channel(contact, channel)
    return ConsentUpdated(
        candidate_id=state.candidate_id,
        first_name=state.first_name,
        email=state.email,
        phone=state.phone,
        channels=sorted(state.channels),
        digest=state.digest,
        urgent_shift_sms=state.urgent_shift_sms,
        language=state.language,
        version=state.version,
        change=ConsentChange(channel=channel, consented=False, origin=origin, at=at),
    )


@dataclass(frozen=True, slots=True)
class ConsentMark:
    """One change of consent to remember: a suppression (`lifts=False`) or a re-consent that may lift one."""

    candidate_id: str
    channel: Channel
    at: datetime
    origin: ConsentOrigin
    lifts: bool


SERVICE_ORIGINS = frozenset({ConsentOrigin.SMS_STOP, ConsentOrigin.EMAIL_UNSUBSCRIBE})
"""Consent changes this service states (a STOP reply, an unsubscribe link); consumers refuse them
from any other source (`vocation_shared.contracts.producers.forged_reason`)."""


def stated_here(data: CandidateContact) -> bool:
    """Whether a full state was published by this service (an opt-out, or an opt-out restated).

    Such a state only fills a contact this service does not have (a rebuild from the compacted
    topic): over a stored contact it would put back an older view of the partner's claims.
    """
    return isinstance(data, ConsentUpdated) and data.change.origin in SERVICE_ORIGINS


def mark_of(data: ConsentUpdated, now: datetime) -> ConsentMark | None:
    """What a `consent-updated` changes in the suppressions, or None (a consent that lifts nothing).

    A withdrawal, whatever its origin, is a suppression. A consent lifts one only when it comes from
    the candidate (origin `candidate`); a partner's or a service's "consented" lifts nothing. The
    change's `at` is taken no later than `now`: a date in the future would otherwise outlive every
    STOP sent before it.
    """
    change = data.change
    at = min(change.at, now)
    if not change.consented:
        return ConsentMark(data.candidate_id, change.channel, at, change.origin, lifts=False)
    if change.origin is ConsentOrigin.CANDIDATE:
        return ConsentMark(data.candidate_id, change.channel, at, change.origin, lifts=True)
    return None


@dataclass(frozen=True, slots=True)
class Suppression:
    """The opt-out record of one (candidate, channel): the newest suppression and re-consent times."""

    suppressed_at: datetime | None
    lifted_at: datetime | None
    origin: ConsentOrigin | None = None

    @property
    def active(self) -> bool:
        """Suppressed, and not re-consented since (a re-consent must be strictly newer)."""
        return self.suppressed_at is not None and (
            self.lifted_at is None or self.lifted_at <= self.suppressed_at
        )

    def with_mark(self, mark: ConsentMark) -> Suppression:
        """This record after `mark` (newest time of each kind kept: order does not matter)."""
        if mark.lifts:
            lifted = mark.at if self.lifted_at is None else max(self.lifted_at, mark.at)
            return replace(self, lifted_at=lifted)
        if self.suppressed_at is not None and self.suppressed_at >= mark.at:
            return self
        return replace(self, suppressed_at=mark.at, origin=mark.origin)


def merge_marks(marks: Iterable[ConsentMark]) -> dict[tuple[str, Channel], Suppression]:
    """The records that `marks` alone make, per (candidate, channel): what the store merges in."""
    records: dict[tuple[str, Channel], Suppression] = {}
    for mark in marks:
        key = (mark.candidate_id, mark.channel)
        records[key] = records.get(key, Suppression(None, None)).with_mark(mark)
    return records


def reachable_channels(claimed: Iterable[Channel], suppressed: Iterable[Channel]) -> frozenset[Channel]:
    """The channels a contact is reached on: those its partner's state claims, minus the suppressed."""
    return frozenset(claimed) - frozenset(suppressed)


def is_stop_reply(text: str) -> bool:
    """Whether an inbound SMS asks to stop (STOP, ARRET…, case and punctuation ignored)."""
    cleaned = " ".join(text.upper().replace(".", " ").replace("!", " ").split())
    return cleaned in STOP_WORDS or cleaned.split(" ", 1)[0] in {"STOP", "ARRET", "ARRÊT"}


def should_apply(stored_version: int | None, incoming_version: int) -> bool:
    """Whether an incoming full contact state replaces the stored one (newer or equal version wins).

    The version is the partner's: an opt-out published here keeps it (it does not count one up),
    so the partner's next version is newer and its contact changes apply; the opt-out stays in
    the suppressions.
    """
    return stored_version is None or incoming_version >= stored_version
