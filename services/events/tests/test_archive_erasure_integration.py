"""The archive's erasure off the ingestion path, on the real Kafka and PostgreSQL: the claim only
records it, a throttled background eraser applies it, archiving goes on meanwhile, and a batch being
archived while an erasure commits is either skipped or deleted later."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from vocation_events.adapters.archive_store import erase_candidate
from vocation_events.app import EventsService, running_service
from vocation_events.core.partners import Partner, hash_api_key
from vocation_events.ports import ArchiveRow
from vocation_events.settings import EventsSettings
from vocation_events.testing.helpers import make_settings
from vocation_shared.testing import samples

pytestmark = pytest.mark.integration

KEY = "vk_erasure-test-key"
SOURCE = "urn:partner:test"
PSEUDONYMS = EventsSettings().pseudonymizer()
HEADERS = {"Authorization": f"Bearer {KEY}"}


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)


def about(candidate_id: str, topic: str, subject: str, event_id: str) -> ArchiveRow:
    """An archived row about a candidate (as the archiver stores it)."""
    event = {"id": event_id, "source": "urn:vocation:matching", "type": "fr.vocation.match.found.v1"}
    return (
        topic,
        0,
        0,
        "urn:vocation:matching",
        event_id,
        "fr.vocation.match.found.v1",
        subject,
        datetime.now(UTC),
        orjson.dumps(event).decode(),
        candidate_id,
    )


@pytest.fixture
async def throttled(
    kafka_bootstrap: str, fresh_database: str
) -> AsyncIterator[tuple[EventsService, httpx.AsyncClient]]:
    # 5 erasures per pass, a pass every 0.1 s at most: 1,000 erasures take 20 s at least.
    settings = make_settings(
        kafka_bootstrap,
        fresh_database,
        archive_enabled=True,
        eraser_erasures_per_pass=5,
        eraser_pause_s=0.1,
        eraser_poll_s=0.1,
    )
    async with running_service(settings) as service:
        await service.partners.create(Partner("p", SOURCE, frozenset({"*"})), hash_api_key(KEY))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=service.http), base_url="http://gw"
        ) as http:
            yield service, http


async def test_a_thousand_erasures_do_not_stall_archiving(
    throttled: tuple[EventsService, httpx.AsyncClient],
) -> None:
    service, http = throttled
    run = uuid.uuid4().hex[:8]
    people = [f"cand-{run}-{n}" for n in range(1000)]
    rows = [about(p, "matches", p, f"m-{p}") for p in people]
    rows += [about(p, "immersion-bookings", f"slot-{run}", f"b-{p}") for p in people]
    assert await service.archive.store(rows) == 2000
    withdrawals = [
        samples.cloud_event(
            "fr.vocation.candidate.withdrawn.v1",
            p,
            {"candidate_id": p, "erasure_requested": True},
            id=f"bye-{p}",
            source=SOURCE,
        )
        for p in people
    ]
    answer = await http.post(
        "/v1/events/batch",
        content=orjson.dumps(withdrawals),
        headers={**HEADERS, "Content-Type": "application/cloudevents-batch+json"},
    )
    assert answer.status_code == 202 and answer.json()["accepted"] == 1000, answer.text

    async def left() -> int:
        return int(
            await service.pool.fetchval(
                "SELECT count(*) FROM archived_events WHERE candidate_id = ANY($1::text[])", people
            )
        )

    assert await left() > 0, "the claim only records the erasures"
    vacancy_id = f"vac-{run}"
    vacancy = samples.cloud_event(
        "fr.vocation.vacancy.posted.v1",
        vacancy_id,
        samples.vacancy(id=vacancy_id),
        id=f"v-{run}",
        source=SOURCE,
    )
    answer = await http.post(
        "/v1/events", content=orjson.dumps(vacancy), headers={**HEADERS, "Content-Type": "application/json"}
    )
    assert answer.status_code == 202

    async def vacancy_archived() -> bool:
        return bool(await service.archive.history(vacancy_id))

    await eventually(vacancy_archived)
    pending = await service.eraser.pending()
    assert pending > 0, "the new event was archived while erasures were still pending"

    async def all_applied() -> bool:
        return await service.eraser.pending() == 0

    await eventually(all_applied, timeout=180)
    assert await left() == 0
    assert await service.archive.history(vacancy_id), "only the erased people's rows went"


@pytest.fixture
async def quiet(kafka_bootstrap: str, fresh_database: str) -> AsyncIterator[EventsService]:
    """A service without the archive consumer nor the eraser: the test drives both by hand."""
    settings: EventsSettings = make_settings(kafka_bootstrap, fresh_database, archive_enabled=False)
    async with running_service(settings) as service:
        yield service


async def test_a_batch_archived_while_an_erasure_commits_is_skipped_or_erased_later(
    quiet: EventsService,
) -> None:
    service = quiet
    run = uuid.uuid4().hex[:8]
    # The erasure commits first: the batch waits for it, then skips the erased candidate's row.
    first = f"cand-{run}-a"
    async with service.pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        await erase_candidate(conn, PSEUDONYMS.candidate(first), first, SOURCE, f"bye-{first}")
        storing = asyncio.create_task(service.archive.store([about(first, "matches", first, f"m-{first}")]))
        await asyncio.sleep(0.5)
        assert not storing.done(), "the batch waits for the erasure being committed"
        await transaction.commit()
    assert await storing == 0

    # The batch commits first: the erasure waits for it, and the eraser deletes the row after.
    second = f"cand-{run}-b"
    async with service.pool.acquire() as archiving:
        transaction = archiving.transaction()
        await transaction.start()
        await archiving.execute("LOCK TABLE erasures IN SHARE MODE")  # as `PostgresArchive.store` does
        await archiving.execute(
            'INSERT INTO archived_events (topic, partition, "offset", source, event_id, type, subject, time,'
            " event, candidate_id) VALUES ('matches', 0, 0, $1, $2, 't', $3, now(), '{}', $3)",
            SOURCE,
            f"m-{second}",
            second,
        )

        async def erase() -> None:
            async with service.pool.acquire() as conn, conn.transaction():
                await erase_candidate(conn, PSEUDONYMS.candidate(second), second, SOURCE, f"bye-{second}")

        erasing = asyncio.create_task(erase())
        await asyncio.sleep(0.5)
        assert not erasing.done(), "the erasure waits for the batch being archived"
        await transaction.commit()
    await erasing
    assert await service.eraser.pending() == 2  # no eraser runs in this service: the test drives it
    while await service.eraser.run_once():
        pass
    assert await service.eraser.pending() == 0
    assert not await service.pool.fetchval(
        "SELECT count(*) FROM archived_events WHERE candidate_id = $1", second
    )
