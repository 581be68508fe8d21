"""Who owns an entity: the first partner source that publishes its id, per kind of entity.

An event names the entities it is about (its subject) and the ones it refers to (a vacancy's
establishment, an immersion request's candidate). Each of them must be owned by the event's
source, or be owned by no one yet (the event then claims it). Two exceptions: a cancellation of
an immersion request, which the host (the owner of the slot) may send too, and an answer to an
application, which only the owner of the vacancy (`data.offer_id`) may send: its subject is the
candidate, whom the partner need not own, and an answer never claims a vacancy.

Pure rules: the store (PostgreSQL, or the fake) applies `decide` to the owners it holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, NamedTuple

from vocation_events.core.problems import Problem, forbidden


class Kind(StrEnum):
    """The kinds of entities partners publish; an id is unique within its kind."""

    ESTABLISHMENT = "establishment"
    VACANCY = "vacancy"
    CANDIDATE = "candidate"
    TRAINING_SESSION = "training-session"
    IMMERSION_SLOT = "immersion-slot"
    IMMERSION_REQUEST = "immersion-request"


KINDS = frozenset(str(k) for k in Kind)

_T = "fr.vocation."
_SUBJECT_KIND: dict[str, str] = {
    **{f"{_T}establishment.{v}.v1": Kind.ESTABLISHMENT.value for v in ("registered", "updated")},
    **{f"{_T}vacancy.{v}.v1": Kind.VACANCY.value for v in ("posted", "updated", "closed")},
    f"{_T}shift.accepted.v1": Kind.VACANCY.value,
    **{
        f"{_T}{t}.v1": Kind.CANDIDATE.value
        for t in (
            "candidate.registered",
            "apprentice.registered",
            "candidate.updated",
            "candidate.withdrawn",
            "contact.registered",  # the contact belongs to its candidate
            "consent.updated",
        )
    },
    **{f"{_T}training-session.{v}.v1": Kind.TRAINING_SESSION.value for v in ("published", "updated")},
    **{f"{_T}immersion-slot.{v}.v1": Kind.IMMERSION_SLOT.value for v in ("offered", "updated", "closed")},
}
_WITH_ESTABLISHMENT = frozenset(
    t for t, k in _SUBJECT_KIND.items() if k in (Kind.VACANCY, Kind.IMMERSION_SLOT) and "shift" not in t
)
IMMERSION_REQUESTED = f"{_T}immersion.requested.v1"
IMMERSION_CANCELLED = f"{_T}immersion.cancelled.v1"
APPLICATION_ANSWERED = f"{_T}application.answered.v1"
# Plain strings in refs: a StrEnum hashes in Python, and a batch hashes thousands of refs.
_ESTABLISHMENT = Kind.ESTABLISHMENT.value
_CANDIDATE = Kind.CANDIDATE.value
_IMMERSION_REQUEST = Kind.IMMERSION_REQUEST.value
_IMMERSION_SLOT = Kind.IMMERSION_SLOT.value
_VACANCY = Kind.VACANCY.value


class Ref(NamedTuple):
    """An entity an event names: its kind and id, where the event names it, and how it counts.

    `claims`: the event must own it, or claims it when no one does. Otherwise the ref only
    vouches: when the event's source owns it, the event may go whatever its other refs say (the
    slot's owner cancelling a request made on its slot), and nothing is claimed. `required` (with
    `claims` false): the event's source must own it already, else the event is refused, whether
    another source owns it or no one does (a partner answering an application to a vacancy).
    """

    kind: str
    entity_id: str
    pointer: str
    claims: bool = True
    required: bool = False


_new = tuple.__new__  # a Ref without the NamedTuple's Python-level __new__ (refs are built per event)


def refs_of(event: Any) -> tuple[Ref, ...]:
    """The entities `event` (a validated partner event) names, its subject first."""
    event_type: str = event.type
    kind = _SUBJECT_KIND.get(event_type)
    if kind is not None:
        subject: Ref = _new(Ref, (kind, event.subject, "/subject", True, False))
        if event_type in _WITH_ESTABLISHMENT:
            establishment = event.data.establishment.id
            return (
                subject,
                _new(Ref, (_ESTABLISHMENT, establishment, "/data/establishment/id", True, False)),
            )
        return (subject,)
    if event_type == IMMERSION_REQUESTED:
        data = event.data
        return (
            Ref(_IMMERSION_REQUEST, data.request_id, "/data/request_id"),
            Ref(_CANDIDATE, data.candidate_id, "/data/candidate_id"),
        )
    if event_type == IMMERSION_CANCELLED:
        data = event.data
        return (
            Ref(_IMMERSION_REQUEST, data.request_id, "/data/request_id"),
            Ref(_IMMERSION_SLOT, event.subject, "/subject", claims=False),
        )
    if event_type == APPLICATION_ANSWERED:
        # The subject is the candidate (another partner's, often): only the offer counts.
        return (Ref(_VACANCY, event.data.offer_id, "/data/offer_id", claims=False, required=True),)
    return ()  # an internal fact: refused before (`check_event`)


class Refusal(NamedTuple):
    """Why an event was refused: which of its refs is owned by another source."""

    ref: int
    owner: str | None


def decide(
    refs: Sequence[Sequence[Ref]], owners: Mapping[tuple[str, str], str], source: str
) -> tuple[dict[int, Refusal], list[tuple[str, str]]]:
    """The events refused (by index, with their first ref owned by another) and the entities to claim.

    `owners` holds the current owner of the entities the refs name (absent: no owner). The
    entities to claim are the unowned ones named by events that go, each once, sorted (the order
    concurrent claims lock them in). A required ref not owned by `source` refuses its event, with
    `owner` None when no one owns it. PostgreSQL's `_OWN` statement is this function.
    """
    refused: dict[int, Refusal] = {}
    claim: set[tuple[str, str]] = set()
    for index, event_refs in enumerate(refs):
        vouched = any(
            not r.claims and not r.required and owners.get((r.kind, r.entity_id)) == source
            for r in event_refs
        )
        if vouched:
            continue
        conflict = next(
            (
                (n, owner)
                for n, r in enumerate(event_refs)
                if (owner := owners.get((r.kind, r.entity_id))) != source
                and ((r.claims and owner is not None) or r.required)
            ),
            None,
        )
        if conflict is not None:
            refused[index] = Refusal(*conflict)
            continue
        claim.update(
            (r.kind, r.entity_id) for r in event_refs if r.claims and (r.kind, r.entity_id) not in owners
        )
    return refused, sorted(claim)


def not_owned(ref: Ref) -> Problem:
    """The 403 of an event naming an entity another partner owns (its owner is not told).

    For a required ref the answer is the same whether another partner owns the entity or no one
    does: it tells nothing about other partners' vacancies.
    """
    if ref.required:
        return forbidden(
            f"the {ref.kind} {ref.entity_id[:200]!r} is not one of this partner's:"
            " only its owner may answer the applications to it",
            ref.pointer,
            "not-owner",
        )
    return forbidden(
        f"the {ref.kind} {ref.entity_id[:200]!r} belongs to another partner: only its owner may publish about it",
        ref.pointer,
        "not-owner",
    )
