"""Every producer of the platform keeps acks=all and idempotence, and writes the same CloudEvents headers."""

from __future__ import annotations

import pytest
from vocation_shared.kafka.batches import KeyPrefixPartitioner
from vocation_shared.kafka.headers import cloudevent_headers
from vocation_shared.kafka.producer import make_producer, producer_options

pytestmark = pytest.mark.unit


def test_tuning_keeps_the_guarantees() -> None:
    options = producer_options(max_batch_size=1 << 20, linger_ms=5)
    assert options["acks"] == "all"
    assert options["enable_idempotence"] is True
    assert isinstance(options["partitioner"], KeyPrefixPartitioner)
    assert (options["max_batch_size"], options["linger_ms"]) == (1 << 20, 5)


@pytest.mark.parametrize("weaker", [{"acks": 1}, {"enable_idempotence": False}])
def test_a_weaker_producer_is_refused(weaker: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="keeps"):
        producer_options(**weaker)


async def test_the_producer_is_idempotent_places_records_by_key_prefix_and_connects_only_when_started() -> (
    None
):
    producer = make_producer("127.0.0.1:1,127.0.0.1:2", client_id="t", max_batch_size=65536)
    try:
        assert producer._txn_manager is not None  # aiokafka's idempotence: producer ids and sequences
        assert producer._sender._acks == -1  # all in-sync replicas
        assert isinstance(producer._partitioner, KeyPrefixPartitioner)
        assert producer.client._bootstrap_servers == ["127.0.0.1:1", "127.0.0.1:2"]
    finally:
        await producer.stop()


def test_an_event_record_carries_its_content_type_type_id_and_source() -> None:
    assert cloudevent_headers("vacancy.published", "e-1", "urn:partner:x") == [
        ("content-type", b"application/cloudevents+json; charset=UTF-8"),
        ("ce_type", b"vacancy.published"),
        ("ce_id", b"e-1"),
        ("ce_source", b"urn:partner:x"),
    ]
