"""How the consumer treats each record, with fakes in place of Kafka (unit tests)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aiokafka import ConsumerRecord
from vocation_shared.contracts import AnyEvent
from vocation_shared.kafka.consumer import (
    EventConsumer,
    PermanentError,
    RetryPolicy,
    Subscription,
    TransientError,
)
from vocation_shared.kafka.dead_letters import DeadLetterReason
from vocation_shared.testing import samples

pytestmark = pytest.mark.unit


class FakeDeadLetters:
    """Remembers what was dead-lettered."""

    def __init__(self) -> None:
        self.sent: list[tuple[ConsumerRecord[bytes, bytes], DeadLetterReason, str]] = []

    async def send(
        self,
        record: ConsumerRecord[bytes, bytes],
        reason: DeadLetterReason,
        error: str,
        attempts: int = 1,
    ) -> None:
        self.sent.append((record, reason, error))


class Recorder:
    """A handler that fails as told, then records what it applied."""

    def __init__(self, failures: list[BaseException] | None = None) -> None:
        self.failures = list(failures or [])
        self.applied: list[AnyEvent] = []
        self.calls = 0

    async def __call__(self, event: AnyEvent) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        self.applied.append(event)


def record(
    value: bytes | None, topic: str = "vacancies", key: bytes = b"vac-0001", offset: int = 0
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=topic,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key),
        serialized_value_size=len(value or b""),
        headers=(),
    )


def vacancy_bytes(**overrides: Any) -> bytes:
    return orjson.dumps(
        samples.cloud_event("fr.vocation.vacancy.posted.v1", "vac-0001", samples.vacancy(**overrides))
    )


async def _no_sleep(_: float) -> None:
    return None


def consumer(dead: FakeDeadLetters, max_attempts: int = 3) -> EventConsumer:
    return EventConsumer(
        broker=None,
        dead_letters=dead,
        retry=RetryPolicy(max_attempts=max_attempts),
        sleep=_no_sleep,
    )  # type: ignore[arg-type]


def subscription(
    handler: Recorder, accepts: set[str] | None = None, on_tombstone: Any = None
) -> Subscription:
    return Subscription(
        "vacancies", "test-group", handler, frozenset(accepts) if accepts else None, on_tombstone
    )


async def test_valid_event_reaches_the_handler_once() -> None:
    dead, handler = FakeDeadLetters(), Recorder()
    await consumer(dead).process_record(record(vacancy_bytes()), subscription(handler))
    assert [e.id for e in handler.applied] == ["evt-vac-0001"]
    assert dead.sent == []


async def test_malformed_bytes_go_to_the_dead_letters_and_the_handler_is_not_called() -> None:
    dead, handler = FakeDeadLetters(), Recorder()
    await consumer(dead).process_record(record(b"\xff\xfe not json"), subscription(handler))
    assert handler.calls == 0
    assert dead.sent[0][1] is DeadLetterReason.UNPARSABLE


async def test_schema_violation_is_dead_lettered_with_the_field() -> None:
    dead, handler = FakeDeadLetters(), Recorder()
    await consumer(dead).process_record(record(vacancy_bytes(rome_code="Z0000")), subscription(handler))
    assert dead.sent[0][1] is DeadLetterReason.INVALID
    assert "/data/rome_code" in dead.sent[0][2]


async def test_event_on_the_wrong_topic_is_dead_lettered() -> None:
    dead, handler = FakeDeadLetters(), Recorder()
    await consumer(dead).process_record(record(vacancy_bytes(), topic="candidates"), subscription(handler))
    assert dead.sent[0][1] is DeadLetterReason.WRONG_TOPIC


def match_bytes(source: str) -> bytes:
    event = samples.cloud_event(MATCH_FOUND, "cand-0001", samples.match_found(), source=source)
    return orjson.dumps(event)


MATCH_FOUND = "fr.vocation.match.found.v1"
MATCHING = "urn:vocation:matching"


async def test_a_match_from_a_partner_source_is_dead_lettered_as_forged_and_never_handled() -> None:
    dead, handler = FakeDeadLetters(), Recorder()
    forged = record(match_bytes("urn:partner:conseil-departemental"), topic="matches", key=b"cand-0001")
    await consumer(dead).process_record(forged, subscription(handler))
    assert handler.calls == 0
    assert [(reason, error) for _, reason, error in dead.sent] == [
        (
            DeadLetterReason.FORGED_SOURCE,
            f"{MATCH_FOUND} is published only with source {MATCHING}, not 'urn:partner:conseil-departemental'",
        )
    ]


async def test_a_match_from_the_matching_service_reaches_the_handler() -> None:
    dead, handler = FakeDeadLetters(), Recorder()
    await consumer(dead).process_record(
        record(match_bytes(MATCHING), topic="matches", key=b"cand-0001"), subscription(handler)
    )
    assert [e.source for e in handler.applied] == [MATCHING]
    assert dead.sent == []


async def test_a_partner_fact_under_a_service_source_is_dead_lettered_as_forged() -> None:
    dead, handler = FakeDeadLetters(), Recorder()
    await consumer(dead).process_record(record(vacancy_bytes(), topic="vacancies"), subscription(handler))
    spoofed = orjson.loads(vacancy_bytes()) | {"source": MATCHING}
    await consumer(dead).process_record(record(orjson.dumps(spoofed)), subscription(handler))
    assert handler.calls == 1
    assert [reason for _, reason, _ in dead.sent] == [DeadLetterReason.FORGED_SOURCE]


async def test_a_forged_fact_of_a_type_not_accepted_is_skipped_like_any_other() -> None:
    dead, handler = FakeDeadLetters(), Recorder()
    forged = record(match_bytes("urn:partner:x"), topic="matches", key=b"cand-0001")
    await consumer(dead).process_record(
        forged, subscription(handler, accepts={"fr.vocation.match.withdrawn.v1"})
    )
    assert handler.calls == 0
    assert dead.sent == []


async def test_transient_failures_are_retried_until_success() -> None:
    dead, handler = (
        FakeDeadLetters(),
        Recorder([ConnectionRefusedError(), TransientError("db down")] * 3),
    )
    await consumer(dead, max_attempts=2).process_record(record(vacancy_bytes()), subscription(handler))
    assert handler.calls == 7
    assert len(handler.applied) == 1
    assert dead.sent == []


async def test_a_persistent_bug_goes_to_the_dead_letters_after_the_attempts() -> None:
    dead, handler = FakeDeadLetters(), Recorder([KeyError("boom")] * 5)
    await consumer(dead, max_attempts=3).process_record(record(vacancy_bytes()), subscription(handler))
    assert handler.calls == 3
    assert dead.sent[0][1] is DeadLetterReason.PROCESSING_FAILED
    assert "KeyError" in dead.sent[0][2]


async def test_a_permanent_rejection_is_dead_lettered_at_once() -> None:
    dead, handler = FakeDeadLetters(), Recorder([PermanentError("slot unknown")])
    await consumer(dead).process_record(record(vacancy_bytes()), subscription(handler))
    assert handler.calls == 1
    assert dead.sent[0][1] is DeadLetterReason.REJECTED


async def test_types_not_accepted_are_skipped_without_dead_letter() -> None:
    dead, handler = FakeDeadLetters(), Recorder()
    await consumer(dead).process_record(
        record(vacancy_bytes()), subscription(handler, accepts={"fr.vocation.vacancy.closed.v1"})
    )
    assert handler.calls == 0
    assert dead.sent == []


async def test_tombstone_goes_to_the_tombstone_handler() -> None:
    dead, handler = FakeDeadLetters(), Recorder()
    erased: list[str] = []

    async def on_tombstone(key: str) -> None:
        erased.append(key)

    await consumer(dead).process_record(
        record(None, key=b"cand-0001"), subscription(handler, on_tombstone=on_tombstone)
    )
    assert erased == ["cand-0001"]
    assert handler.calls == 0


class BatchRecorder:
    """A batch handler that fails whenever a given event id is in the batch."""

    def __init__(self, poison: str | None = None) -> None:
        self.poison = poison
        self.batches: list[list[str]] = []

    async def __call__(self, events: list[AnyEvent]) -> None:
        ids = [e.id for e in events]
        if self.poison in ids:
            raise ValueError("cannot apply")
        self.batches.append(ids)


def numbered(n: int) -> ConsumerRecord[bytes, bytes]:
    event = samples.cloud_event(
        "fr.vocation.vacancy.posted.v1", f"vac-{n}", samples.vacancy(id=f"vac-{n}"), id=f"evt-{n}"
    )
    return record(orjson.dumps(event), key=f"vac-{n}".encode(), offset=n)


async def test_bulk_applies_valid_events_as_one_batch_and_dead_letters_the_invalid() -> None:
    dead, handler = FakeDeadLetters(), BatchRecorder()
    records = [numbered(1), record(b"garbage", offset=2), numbered(3)]
    await consumer(dead).process_records_in_bulk(records, "vacancies", "g", handler, None)
    assert handler.batches == [["evt-1", "evt-3"]]
    assert [reason for _, reason, _ in dead.sent] == [DeadLetterReason.UNPARSABLE]


async def test_bulk_dead_letters_a_forged_fact_and_applies_the_others() -> None:
    dead, handler = FakeDeadLetters(), BatchRecorder()
    found = orjson.loads(match_bytes(MATCHING))
    records = [
        record(orjson.dumps(found | {"id": "m-1"}), topic="matches", key=b"cand-0001", offset=1),
        record(match_bytes("urn:partner:x"), topic="matches", key=b"cand-0001", offset=2),
        record(orjson.dumps(found | {"id": "m-3"}), topic="matches", key=b"cand-0001", offset=3),
    ]
    await consumer(dead).process_records_in_bulk(records, "matches", "g", handler, None)
    assert handler.batches == [["m-1", "m-3"]]
    assert [(r.offset, reason) for r, reason, _ in dead.sent] == [(2, DeadLetterReason.FORGED_SOURCE)]


async def test_a_poison_event_in_a_batch_is_isolated_and_the_others_are_applied() -> None:
    dead, handler = FakeDeadLetters(), BatchRecorder(poison="evt-2")
    records = [numbered(1), numbered(2), numbered(3)]
    await consumer(dead, max_attempts=2).process_records_in_bulk(records, "vacancies", "g", handler, None)
    assert handler.batches == [["evt-1"], ["evt-3"]]
    assert [(r.offset, reason) for r, reason, _ in dead.sent] == [(2, DeadLetterReason.PROCESSING_FAILED)]


async def test_a_batch_hands_its_tombstones_over_in_their_place_in_the_order() -> None:
    dead, handler = FakeDeadLetters(), BatchRecorder()
    seen: list[str] = []

    async def on_tombstone(key: str) -> None:
        seen.append(f"tombstone {key} after {sum(len(b) for b in handler.batches)} events")

    tombstone = record(None, key=b"vac-2", offset=2)
    records = [numbered(1), tombstone, numbered(3), numbered(4)]
    await consumer(dead).process_fetched_batch(records, "vacancies", "g", handler, None, on_tombstone)
    assert handler.batches == [["evt-1"], ["evt-3", "evt-4"]]
    assert seen == ["tombstone vac-2 after 1 events"]
