"""`vocation dlq redrive` on the real broker and database: erased candidates stay erased, tombstones
go back as tombstones."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner
from vocation_events.adapters import dead_letters
from vocation_events.app import MIGRATIONS
from vocation_events.cli import dlq_app
from vocation_events.settings import EventsSettings
from vocation_events.testing.helpers import read_topic
from vocation_shared.kafka import headers as h
from vocation_shared.postgres import create_pool
from vocation_shared.testing import samples

pytestmark = pytest.mark.integration


def _letter(reason: str, topic: str, tombstone: bool = False) -> list[tuple[str, bytes]]:
    headers = [(h.DLQ_REASON, reason.encode()), (h.DLQ_TOPIC, topic.encode()), (h.DLQ_CONSUMER, b"test")]
    return headers + ([(h.DLQ_TOMBSTONE, b"true")] if tombstone else [])


def _updated(candidate_id: str, run: str) -> bytes:
    data = samples.candidate(id=candidate_id, version=2)
    event = samples.cloud_event(
        "fr.vocation.candidate.updated.v1", candidate_id, data, id=f"upd-{candidate_id}"
    )
    return orjson.dumps(event)


async def test_redrive_skips_erased_candidates_and_sends_tombstones_back_as_tombstones(
    kafka_bootstrap: str, fresh_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = uuid.uuid4().hex[:8]
    erased, kept, legacy, slot = f"gone-{run}", f"kept-{run}", f"old-{run}", f"slot-{run}"
    async with create_pool(fresh_database, migrations=[("events", MIGRATIONS)]) as pool:
        await pool.execute(
            "INSERT INTO erasures (candidate_pseudonym, source, event_id) VALUES ($1, 'urn:partner:test', $2)",
            EventsSettings().pseudonymizer().candidate(erased),  # the ledger keeps no id once applied
            f"withdrawn-{run}",
        )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        send = producer.send_and_wait
        await send(
            "candidates.dlq",
            _updated(erased, run),
            key=erased.encode(),
            headers=_letter("rejected", "candidates"),
        )
        await send(
            "candidates.dlq",
            _updated(kept, run),
            key=kept.encode(),
            headers=_letter("rejected", "candidates"),
        )
        # The erasure itself, dead-lettered by a consumer whose tombstone handler failed.
        marked = _letter("processing-failed", "candidates", tombstone=True)
        await send("candidates.dlq", None, key=erased.encode(), headers=marked)
        # Written before tombstones were marked: an empty value, dead-lettered for its handler.
        await send("candidates.dlq", b"", key=legacy.encode(), headers=_letter("rejected", "candidates"))
        # Keyed by slot: the candidate is in the data.
        booking = orjson.dumps(
            {"type": "fr.vocation.immersion.requested.v1", "data": {"candidate_id": erased}}
        )
        await send(
            "immersion-bookings.dlq",
            booking,
            key=slot.encode(),
            headers=_letter("invalid", "immersion-bookings"),
        )
    finally:
        await producer.stop()

    monkeypatch.setenv("VOCATION_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("VOCATION_DATABASE_URL", fresh_database)
    runner = CliRunner()
    dry = await asyncio.to_thread(runner.invoke, dlq_app, ["redrive", "candidates", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would skip 1 about erased candidates" in dry.output
    first = await asyncio.to_thread(runner.invoke, dlq_app, ["redrive", "candidates"])
    assert first.exit_code == 0, first.output
    assert "skipped 1 about erased candidates" in first.output
    bookings = await asyncio.to_thread(runner.invoke, dlq_app, ["redrive", "immersion-bookings"])
    assert "skipped 1 about erased candidates" in bookings.output, bookings.output

    back = await read_topic(kafka_bootstrap, "candidates", {erased.encode(), kept.encode(), legacy.encode()})
    by_key = {r.key: r for r in back}
    assert [r.value for r in back if r.key == erased.encode()] == [None]  # the tombstone, not the update
    assert by_key[kept.encode()].value == _updated(kept, run)
    assert by_key[legacy.encode()].value is None
    assert not await read_topic(kafka_bootstrap, "immersion-bookings", {slot.encode()})

    again = await asyncio.to_thread(runner.invoke, dlq_app, ["redrive", "candidates"])
    assert "re-drove 0 dead letters" in again.output and "skipped 0" in again.output, again.output
    listed = await dead_letters.list_dead_letters(kafka_bootstrap, "candidates")
    mine = {d.key: d for d in listed if d.key in by_key}
    assert all(d.redriven for d in mine.values())
    assert mine[legacy.encode()].tombstone
