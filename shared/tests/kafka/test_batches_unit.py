"""The shared batch writer's partitioner: the same partition as aiokafka's (and the Java client's) for any
bare key; a composite `<subject>/<record id>` key placed by its subject."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st
from vocation_shared.contracts.topics import partition_key, record_key
from vocation_shared.kafka.batches import KeyPrefixPartitioner, murmur2

pytestmark = pytest.mark.unit


@given(st.binary(max_size=300))
def test_murmur2_is_aiokafkas_bit_for_bit(key: bytes) -> None:
    assert murmur2(key) == aiokafka_murmur2(key)


@pytest.mark.parametrize(
    "key",
    [b"", b"a", b"ab", b"abc", b"abcd", b"vac-0001", "établissement-é".encode(), b"\xff" * 257],
)
def test_murmur2_edge_lengths(key: bytes) -> None:
    assert murmur2(key) == aiokafka_murmur2(key)


def test_a_request_is_keyed_by_slot_and_request_and_placed_by_its_slot() -> None:
    request = {"request_id": "req-1", "slot_id": "slot-9", "candidate_id": "cand-3"}
    key = record_key("immersion-bookings", "slot-9", request).encode()
    assert key == b"slot-9/req-1"
    assert partition_key(key) == b"slot-9"
    partitions = list(range(6))
    expected = partitions[(aiokafka_murmur2(b"slot-9") & 0x7FFFFFFF) % 6]
    assert KeyPrefixPartitioner()(key, partitions, partitions) == expected
    assert KeyPrefixPartitioner()(b"slot-9/req-2", partitions, partitions) == expected


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,40}", fullmatch=True))
def test_a_bare_key_is_placed_as_aiokafkas_default_partitioner_places_it(key: str) -> None:
    partitions = list(range(6))
    raw = key.encode()
    assert KeyPrefixPartitioner()(raw, partitions, partitions) == DefaultPartitioner()(
        raw, partitions, partitions
    )
    assert record_key("matches", key, {"candidate_id": key}) == key
