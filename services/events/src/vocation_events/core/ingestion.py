"""What the gateway does with one partner event: check rights, validate, and plan the records to write.

Pure functions: no I/O. The records planned for an event are written to Kafka together, under
one idempotency claim of the partner's (`source`, `id`).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, NamedTuple, Union

from pydantic import Field, TypeAdapter, ValidationError
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.codec import FieldError, errors_of
from vocation_shared.contracts.events import EVENT_TYPES, AnyEvent
from vocation_shared.contracts.producers import CONSENT_UPDATED, is_partner_type, partner_forbidden_reason
from vocation_shared.contracts.topics import Topic, record_key
from vocation_shared.kafka import headers as h

from vocation_events.core.partners import Partner
from vocation_events.core.problems import Problem, forbidden, invalid
from vocation_events.core.rome import convert_rome_v3

CONTACT_ID_SUFFIX = ".contact"
MAX_EVENT_ID_LENGTH = 200
REGISTRATIONS = (ev.CandidateRegistered, ev.ApprenticeRegistered)
# Event types whose plan is more than their own record (compared by type name: an `isinstance`
# on pydantic's ABC-based model classes costs more than the rest of the plan's bookkeeping).
_SPECIAL_TYPES = frozenset({*(m.TYPE for m in REGISTRATIONS), ev.CandidateWithdrawn.TYPE})


class Record(NamedTuple):
    """One Kafka record to write: `value` None is a tombstone."""

    topic: str
    key: bytes
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()


class Plan(NamedTuple):
    """What accepting a valid event means: the records to write and the candidate to erase, if any."""

    event: AnyEvent
    records: tuple[Record, ...]
    erase_candidate: str | None = None


_new_plan = tuple.__new__

MAX_CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of the gateway's clock an event's `time` may be (partners' clocks drift a little)."""


def latest_time(now: datetime | None = None) -> datetime:
    """The latest event `time` the gateway accepts now: a fact cannot happen in the future."""
    return (now or datetime.now(UTC)) + MAX_CLOCK_SKEW


def check_event(document: Any, partner: Partner, not_after: datetime | None = None) -> AnyEvent | Problem:
    """The event model of a partner's JSON document, or why it cannot be accepted (403 or 422).

    `not_after`: the latest `time` accepted (`latest_time()` when not given).
    """
    if not isinstance(document, dict):
        return invalid("not-an-event", [FieldError("", "a CloudEvent is a JSON object")])
    event_type = document.get("type")
    if not isinstance(event_type, str):
        return invalid("invalid", [FieldError("/type", "the event type is required, as a string")])
    model = EVENT_TYPES.get(event_type)
    if model is None:
        return invalid("unknown-type", [FieldError("/type", f"unknown event type {event_type[:200]!r}")])
    if not partner.may_send(event_type):
        return _type_forbidden(partner, event_type)
    source = document.get("source")
    if isinstance(source, str) and source != partner.source:
        return _source_forbidden(partner)
    if partner.rome_v3 and "data" in document:
        data, errors = convert_rome_v3(document["data"])
        if errors:
            return invalid("invalid", errors)
        document = {**document, "data": data}
    try:
        event: AnyEvent = model.model_validate(document)
    except ValidationError as exc:
        return invalid("invalid", errors_of(exc))
    except (ValueError, TypeError, RecursionError) as exc:  # a validator choking on odd input
        return invalid("invalid", [FieldError("", f"invalid event: {type(exc).__name__}")])
    return _check_valid(event, not_after or latest_time())


def check_model(event: AnyEvent, partner: Partner, not_after: datetime | None = None) -> AnyEvent | Problem:
    """`check_event` for an event validated already (from the request's JSON): the partner's rights.

    A valid event has a known type and a source, so this is what `check_event` would answer.
    """
    if not partner.may_send(event.type):
        return _type_forbidden(partner, event.type)
    if event.source != partner.source:
        return _source_forbidden(partner)
    return _check_valid(event, not_after or latest_time())


def check_models(
    events: Sequence[AnyEvent], partner: Partner, not_after: datetime | None = None
) -> list[AnyEvent | Problem]:
    """`check_model` of each event, deciding each distinct type once (a batch has few)."""
    latest = not_after or latest_time()
    allowed = {t for t in {e.type for e in events} if partner.may_send(t) and t != CONSENT_UPDATED}
    source = partner.source
    return [
        e
        if e.type in allowed and e.source == source and e.time <= latest
        else check_model(e, partner, latest)
        for e in events
    ]


def _check_valid(event: AnyEvent, not_after: datetime) -> AnyEvent | Problem:
    """What a partner may not say even in a valid event: a fact in the future, a consent change from a STOP."""
    if event.type == CONSENT_UPDATED:
        reason = partner_forbidden_reason(event.type, event.data)
        if reason is not None:
            return forbidden(reason, "/data/change/origin")
    if event.time > not_after:
        return invalid(
            "time-in-the-future",
            [
                FieldError(
                    "/time",
                    f"the event's time is ahead of the platform's clock by more than "
                    f"{int(MAX_CLOCK_SKEW.total_seconds() // 60)} minutes: a fact cannot happen in the future",
                )
            ],
        )
    return event


def _type_forbidden(partner: Partner, event_type: str) -> Problem:
    if not is_partner_type(event_type):
        return forbidden(partner_forbidden_reason(event_type, None) or "an internal fact", "/type")
    return forbidden(f"partner {partner.name!r} may not publish {event_type}", "/type")


def _source_forbidden(partner: Partner) -> Problem:
    return forbidden(f"partner {partner.name!r} publishes with source {partner.source!r}", "/source")


def _unbounded_numbers(node: Any) -> bool:
    """Whether a JSON Schema has a number without both a lower and an upper bound."""
    if isinstance(node, dict):
        if node.get("type") == "number" and not (
            ("minimum" in node or "exclusiveMinimum" in node)
            and ("maximum" in node or "exclusiveMaximum" in node)
        ):
            return True
        return any(_unbounded_numbers(value) for value in node.values())
    if isinstance(node, list):
        return any(_unbounded_numbers(value) for value in node)
    return False


@functools.cache
def _batch_validator() -> tuple[TypeAdapter[list[Any]], frozenset[type]]:
    """The validator of a whole batch body, and the event models it validates items into.

    Each item is validated as the event its `type` names; an item that is not a valid event falls
    back to its plain JSON value. Models with a float bounded on one side only are left out (the
    JSON parser takes `NaN`, `Infinity` and `1e400`, which the gateway's JSON parser refuses and
    which such a float would take): their events take the per-event path.
    """
    models = tuple(m for m in EVENT_TYPES.values() if not _unbounded_numbers(m.model_json_schema()))
    event: Any = models[0] if len(models) == 1 else Annotated[Union[models], Field(discriminator="type")]  # noqa: UP007
    item: Any = Annotated[Union[event, Any], Field(union_mode="left_to_right")]  # noqa: UP007
    return TypeAdapter(list[item]), frozenset(models)


def validate_batch(body: bytes) -> tuple[list[Any], frozenset[type]] | None:
    """A batch validated straight from its bytes, without building its JSON documents first.

    Returns the items and the set of model classes: an item whose type is in the set is that
    event, validated (its partner's rights are not checked yet: `check_model`); any other item is
    the parsed JSON value of something that is not a valid event (or of a type left out), for
    `check_event` to explain. None when the body is not a JSON array this validator can read;
    the caller then takes the per-event path, which answers exactly as before.
    """
    adapter, models = _batch_validator()
    try:
        return adapter.validate_json(body), models
    except Exception:  # not valid JSON, not an array, a validator choking: the per-event path
        return None


_TOPIC_OF: dict[str, str] = {name: str(model.TOPIC) for name, model in EVENT_TYPES.items()}
_COMPOSITE_KEYS = frozenset(
    name
    for name, model in EVENT_TYPES.items()
    if record_key(str(model.TOPIC), "s", {"request_id": "r"}) != "s"
)
"""Types whose record key is not the bare subject (`vocation_shared.contracts.topics.record_key`)."""
_headers = h.cloudevent_headers  # the one builder (pure), bound once: it runs for every record
_new_record = tuple.__new__  # a NamedTuple without its Python-level __new__: one call per record


def record_of(event: AnyEvent) -> Record:
    """The Kafka record of an event: on its type's topic, keyed by its subject (`record_key`), with routing headers.

    The value is the validated model's JSON (`CloudEvent.to_json_bytes`, without its method call).
    Headers are `cloudevent_headers`' list, the form the producer's batch builder takes.
    """
    event_type = event.type
    topic = _TOPIC_OF[event_type]
    subject = event.subject
    key = record_key(topic, subject, event.data) if event_type in _COMPOSITE_KEYS else subject
    return _new_record(
        Record,
        (
            topic,
            key.encode(),
            event.__pydantic_serializer__.to_json(event, exclude_none=True),
            _headers(event_type, event.id, event.source),
        ),
    )


def contact_event_id(event_id: str) -> str:
    """The id of the contact event split off a registration: deterministic, so retries stay idempotent."""
    derived = event_id + CONTACT_ID_SUFFIX
    if len(derived) <= MAX_EVENT_ID_LENGTH:
        return derived
    digest = hashlib.sha256(event_id.encode()).hexdigest()[:32]
    return event_id[: MAX_EVENT_ID_LENGTH - len(CONTACT_ID_SUFFIX) - 33] + "-" + digest + CONTACT_ID_SUFFIX


def split_registration(event: AnyEvent) -> tuple[AnyEvent, AnyEvent | None]:
    """A registration as its profile event (same id, no contact) and its contact event, if any."""
    registration: p.CandidateRegistration = event.data
    if registration.contact is None:
        return event, None
    profile = event.model_copy(update={"data": registration.model_copy(update={"contact": None})})
    contact = p.CandidateContact(
        candidate_id=registration.id,
        **registration.contact.model_dump(),
    )
    contact_event = ev.ContactRegistered.build(
        contact, source=event.source, id=contact_event_id(event.id), time=event.time
    )
    return profile, contact_event


def plan(event: AnyEvent) -> Plan:
    """The records that accepting `event` writes.

    A registration carrying a contact is split: the profile goes to `candidates`, the contact to
    `candidate-contacts`. A withdrawal with erasure asked is followed by tombstones of the
    candidate on both compacted topics, and the archive forgets the candidate.
    """
    if event.type not in _SPECIAL_TYPES:
        return _new_plan(Plan, (event, (record_of(event),), None))
    if isinstance(event, REGISTRATIONS):
        profile, contact = split_registration(event)
        records = (record_of(profile),) if contact is None else (record_of(profile), record_of(contact))
        return Plan(event, records)
    if isinstance(event, ev.CandidateWithdrawn) and event.data.erasure_requested:
        key = event.subject.encode()
        return Plan(
            event,
            (
                record_of(event),
                Record(str(Topic.CANDIDATES), key, None),
                Record(str(Topic.CANDIDATE_CONTACTS), key, None),
            ),
            erase_candidate=event.data.candidate_id,
        )
    return Plan(event, (record_of(event),))
