"""Immersion booking: decide a request against a slot's state, and the events that tell the outcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.vocabulary import ImmersionRefusalReason, OfferStatus

Reason = ImmersionRefusalReason


@dataclass(frozen=True, slots=True)
class DateRange:
    """Inclusive dates of a booking or a request."""

    start: date
    end: date

    def overlaps(self, other: DateRange) -> bool:
        """Whether the two ranges share at least one day."""
        return self.start <= other.end and other.start <= self.end


@dataclass(frozen=True, slots=True)
class Booked:
    """The request gets a place; `slot` is the slot's new state (one place less, next version)."""

    slot: p.ImmersionSlot


@dataclass(frozen=True, slots=True)
class Refused:
    """The request is refused, with a reason and its French message for the candidate."""

    reason: Reason
    message: str


Decision = Booked | Refused


def _fr(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def refusal(
    reason: Reason, request: p.ImmersionRequest, slot: p.ImmersionSlot | None, *, too_early: bool = False
) -> Refused:
    """A refusal with the message the candidate reads, in French."""
    if too_early:
        message = (
            f"Les dates demandées commencent le {_fr(request.start_date)}, une date déjà passée : "
            "choisissez des dates à venir."
        )
    elif reason is Reason.SLOT_FULL:
        message = "Il n'y a plus de place disponible sur ce créneau d'immersion."
    elif reason is Reason.SLOT_CLOSED:
        message = "Ce créneau d'immersion n'accepte plus de demandes."
    elif reason is Reason.SLOT_PAST:
        message = "Ce créneau d'immersion est déjà passé."
    elif reason is Reason.DATES_OUTSIDE_SLOT and slot is not None:
        message = (
            f"Les dates demandées (du {_fr(request.start_date)} au {_fr(request.end_date)}) sont en "
            f"dehors du créneau proposé (du {_fr(slot.start_date)} au {_fr(slot.end_date)})."
        )
    elif reason is Reason.OVERLAPPING_BOOKING:
        message = "Vous avez déjà une immersion réservée sur des dates qui se chevauchent avec celles-ci."
    elif reason is Reason.SLOT_UNKNOWN:
        message = "Ce créneau d'immersion n'existe pas ou n'est plus proposé."
    else:
        message = "Votre demande d'immersion n'a pas pu être acceptée."
    return Refused(reason, message)


def decide(
    request: p.ImmersionRequest,
    slot: p.ImmersionSlot | None,
    candidate_bookings: Sequence[DateRange],
    today: date,
) -> Decision:
    """Book or refuse a request. The checks go from the slot to the candidate to the capacity.

    `candidate_bookings` are the candidate's current bookings on any slot; `today` is the day
    the request was made (Europe/Paris).
    """
    if slot is None:
        return refusal(Reason.SLOT_UNKNOWN, request, None)
    if slot.status is OfferStatus.CLOSED:
        return refusal(Reason.SLOT_CLOSED, request, slot)
    if slot.end_date < today:
        return refusal(Reason.SLOT_PAST, request, slot)
    wanted = DateRange(request.start_date, request.end_date)
    if wanted.start < slot.start_date or wanted.end > slot.end_date:
        return refusal(Reason.DATES_OUTSIDE_SLOT, request, slot)
    if wanted.start < today:
        return refusal(Reason.DATES_OUTSIDE_SLOT, request, slot, too_early=True)
    if any(wanted.overlaps(booking) for booking in candidate_bookings):
        return refusal(Reason.OVERLAPPING_BOOKING, request, slot)
    if slot.places_left <= 0 or slot.status is OfferStatus.FILLED:
        return refusal(Reason.SLOT_FULL, request, slot)
    return Booked(with_places_left(slot, slot.places_left - 1))


def with_places_left(slot: p.ImmersionSlot, places_left: int) -> p.ImmersionSlot:
    """The slot's next version with `places_left`; full means filled, a freed place reopens it."""
    places_left = max(0, min(places_left, slot.capacity))
    status = slot.status
    if status is OfferStatus.OPEN and places_left == 0:
        status = OfferStatus.FILLED
    elif status is OfferStatus.FILLED and places_left > 0:
        status = OfferStatus.OPEN
    return p.ImmersionSlot.model_validate(
        {**slot.model_dump(), "places_left": places_left, "status": status, "version": slot.version + 1}
    )


def give_back(slot: p.ImmersionSlot, booked: int) -> p.ImmersionSlot:
    """The slot's next version after a booking ended early (cancelled, erased): one place more,
    never more than its capacity minus the `booked` places still held."""
    return with_places_left(slot, min(slot.places_left + 1, slot.capacity - booked))


def outcome_events(
    request: p.ImmersionRequest,
    decision: Decision,
    establishment_id: str | None,
    *,
    source: str,
    now: datetime,
) -> list[AnyEvent]:
    """The events that tell a decision: the outcome, then the slot's new state when it changed.

    Their ids derive from the request id, so a republished outcome is recognisably the same event.
    """
    fields = request.model_dump()
    if isinstance(decision, Refused):
        refused = p.ImmersionRefused.model_validate(
            {**fields, "reason": decision.reason, "message": decision.message}
        )
        return [
            ev.ImmersionRefused.build(refused, source=source, id=f"{request.request_id}.outcome", time=now)
        ]
    booked = p.ImmersionBooked.model_validate(
        {
            **fields,
            "establishment_id": establishment_id or decision.slot.establishment.id,
            "places_left": decision.slot.places_left,
        }
    )
    return [
        ev.ImmersionBooked.build(booked, source=source, id=f"{request.request_id}.outcome", time=now),
        ev.ImmersionSlotUpdated.build(
            decision.slot, source=source, id=f"{request.request_id}.slot", time=now
        ),
    ]


def cancellation_events(
    cancelled: p.ImmersionCancelled, slot: p.ImmersionSlot, *, source: str, now: datetime
) -> list[AnyEvent]:
    """The slot's new state after a cancellation gave a place back."""
    return [
        ev.ImmersionSlotUpdated.build(
            slot, source=source, id=f"{cancelled.request_id}.cancelled.slot", time=now
        )
    ]


def settle_slot(slot: p.ImmersionSlot, booked: int) -> p.ImmersionSlot:
    """A partner's slot state reconciled with the `booked` places the catalogue holds on it.

    The catalogue owns the bookings: places left never exceed capacity minus its bookings (a
    partner's lower figure is kept, e.g. places given outside the platform).
    """
    places_left = max(0, min(slot.places_left, slot.capacity - booked))
    status = slot.status
    if status is OfferStatus.OPEN and places_left == 0:
        status = OfferStatus.FILLED
    elif status is OfferStatus.FILLED and places_left > 0:
        status = OfferStatus.OPEN
    if places_left == slot.places_left and status is slot.status:
        return slot
    return p.ImmersionSlot.model_validate({**slot.model_dump(), "places_left": places_left, "status": status})


@dataclass(frozen=True, slots=True)
class SlotChange:
    """What a slot event from its owner does: the state to store, and whether to republish it."""

    slot: p.ImmersionSlot
    republish: bool


def owner_change(
    sent: p.ImmersionSlot, booked: int, stored_version: int | None, owner_version: int
) -> SlotChange | None:
    """Apply the owner's new slot state on top of the catalogue's bookings; None if it is stale.

    The owner and the catalogue both move the version (the catalogue at each booking). An owner
    event newer than the owner's last one always counts, even when the catalogue has moved the
    version past it in between: it then becomes the catalogue's next version and is republished,
    so that every reader of `immersion-slots` sees it. When the owner's places left did not
    account for the catalogue's bookings, the corrected state is republished too.
    """
    if sent.version <= owner_version:
        return None
    settled = settle_slot(sent, booked)
    if stored_version is None or sent.version > stored_version:
        if settled is sent:
            return SlotChange(sent, republish=False)
        return SlotChange(settled.model_copy(update={"version": sent.version + 1}), republish=True)
    return SlotChange(settled.model_copy(update={"version": stored_version + 1}), republish=True)
