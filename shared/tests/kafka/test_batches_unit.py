"""The shared batch writer's partitioner: the same partition as aiokafka's (and the Java client's) for any key."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st
from vocation_shared.kafka.batches import murmur2

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
