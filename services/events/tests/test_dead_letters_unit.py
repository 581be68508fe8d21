"""Which dead letters are tombstones, and whom they are about (unit tests)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from vocation_events.core.dead_letters import DeadLetter

pytestmark = pytest.mark.unit


def letter(key: bytes | None, value: bytes | None, **headers: str) -> DeadLetter:
    return DeadLetter(0, 0, datetime(2026, 12, 3, tzinfo=UTC), key, value, headers, False)


def test_a_marked_or_null_letter_is_a_tombstone_and_goes_back_as_one() -> None:
    marked = letter(b"c1", b"", **{"dlq.tombstone": "true", "dlq.reason": "rejected"})
    assert marked.tombstone and marked.original_record("candidates").value is None
    assert letter(b"c1", None).tombstone


def test_an_empty_value_is_a_tombstone_only_if_its_handler_failed() -> None:
    assert letter(b"c1", b"", **{"dlq.reason": "processing-failed"}).tombstone
    unparsable = letter(b"c1", b"", **{"dlq.reason": "unparsable"})
    assert not unparsable.tombstone and unparsable.original_record("candidates").value == b""


def test_the_candidate_is_the_key_on_candidate_topics_and_in_the_data_elsewhere() -> None:
    on_contacts = letter(b"c1", b"garbage", **{"dlq.original.topic": "candidate-contacts"})
    assert on_contacts.candidate_ids("candidate-contacts") == {"c1"}
    booking = orjson.dumps({"data": {"candidate_id": "c2", "slot_id": "s1"}})
    on_bookings = letter(b"s1", booking, **{"dlq.original.topic": "immersion-bookings"})
    assert on_bookings.candidate_ids("immersion-bookings") == {"c2"}
    assert letter(b"vac-1", b"[1, 2]").candidate_ids("vacancies") == set()
