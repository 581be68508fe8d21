"""Personal data sealed in the archive, on the real Kafka and PostgreSQL: stored sealed, shown masked
unless revealed (and the reveal logged), replayed in clear; rows archived in clear before still read."""

from __future__ import annotations

import asyncio
import getpass
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
import typer
from pydantic import SecretStr
from typer.testing import CliRunner
from vocation_events.app import EventsService, running_service
from vocation_events.cli import events_app, replay_slice
from vocation_events.core.archive_sealing import MASK
from vocation_events.core.partners import Partner, hash_api_key
from vocation_events.settings import EventsSettings
from vocation_events.testing.helpers import TEST_CONTACTS_KEYS, make_settings, read_topic
from vocation_shared.testing import samples

pytestmark = pytest.mark.integration

KEY = "vk_privacy-test-key"
SINGLE = {"Content-Type": "application/cloudevents+json", "Authorization": f"Bearer {KEY}"}
SOURCE = "urn:partner:test"


@pytest.fixture
def archive_settings(kafka_bootstrap: str, fresh_database: str) -> EventsSettings:
    return make_settings(kafka_bootstrap, fresh_database, archive_enabled=True)


@pytest.fixture
async def archiving(
    archive_settings: EventsSettings,
) -> AsyncIterator[tuple[EventsService, httpx.AsyncClient]]:
    async with running_service(archive_settings) as service:
        await service.partners.create(Partner("p", SOURCE, frozenset({"*"})), hash_api_key(KEY))
        transport = httpx.ASGITransport(app=service.http)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            yield service, http


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)


def contact_event(candidate_id: str, email: str, phone: str, event_id: str) -> dict[str, Any]:
    data = {
        "candidate_id": candidate_id,
        "first_name": "Léa",
        "email": email,
        "phone": phone,
        "channels": ["email", "sms"],
    }
    return samples.cloud_event(
        "fr.vocation.contact.registered.v1",
        candidate_id,
        data,
        id=event_id,
        source=SOURCE,
        time=datetime.now(UTC).isoformat(),
    )


async def test_contacts_are_archived_sealed_shown_masked_and_replayed_in_clear(
    archiving: tuple[EventsService, httpx.AsyncClient],
    archive_settings: EventsSettings,
    kafka_bootstrap: str,
    fresh_database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service, http = archiving
    run = uuid.uuid4().hex[:10]
    since = datetime.now(UTC) - timedelta(minutes=1)
    sealed_id, legacy_id = f"cand-{run}", f"cand-old-{run}"
    email, phone = f"lea.{run}@example.fr", "+33612345678"
    document = contact_event(sealed_id, email, phone, f"c-{run}")
    assert (await http.post("/v1/events", content=orjson.dumps(document), headers=SINGLE)).status_code == 202
    # A row archived in clear before the archive sealed (as the migration leaves them).
    legacy_email = f"old.{run}@example.fr"
    legacy = contact_event(legacy_id, legacy_email, "+33698765432", f"old-{run}")
    assert await service.archive.store(
        [
            (
                "candidate-contacts",
                0,
                0,
                SOURCE,
                legacy["id"],
                legacy["type"],
                legacy_id,
                datetime.fromisoformat(legacy["time"]),
                orjson.dumps(legacy).decode(),
                legacy_id,
            )
        ]
    )

    async def archived() -> bool:
        return bool(await service.archive.history(sealed_id))

    await eventually(archived)
    stored = await service.pool.fetchval(
        "SELECT event::text FROM archived_events WHERE subject = $1", sealed_id
    )
    for value in (email, phone, "Léa"):
        assert value not in stored
    assert '"enc1:' in stored

    # `events show` masks, `--reveal` opens and says who looked at what (never the values).
    monkeypatch.setenv("VOCATION_DATABASE_URL", fresh_database)
    monkeypatch.setenv("VOCATION_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("VOCATION_CONTACTS_KEYS", TEST_CONTACTS_KEYS)
    cli = typer.Typer()
    cli.add_typer(events_app, name="events")
    for subject, clear in ((sealed_id, email), (legacy_id, legacy_email)):
        # In a thread: the command runs its own event loop.
        shown = await asyncio.to_thread(CliRunner().invoke, cli, ["events", "show", subject, "--json"])
        assert shown.exit_code == 0, shown.output
        assert orjson.loads(shown.stdout)["data"]["email"] == MASK and clear not in shown.output
        revealed = await asyncio.to_thread(
            CliRunner().invoke, cli, ["events", "show", subject, "--json", "--reveal"]
        )
        assert revealed.exit_code == 0, revealed.output
        assert orjson.loads(revealed.stdout)["data"]["email"] == clear
        assert "archive.revealed" in revealed.stderr and getpass.getuser() in revealed.stderr
        assert subject in revealed.stderr and clear not in revealed.stderr

    # The replay republishes the events as they were published: in clear.
    count = await replay_slice(
        archive_settings, "candidate-contacts", since, None, "fr.vocation.contact.registered.v1"
    )
    assert count >= 2
    records = await read_topic(
        kafka_bootstrap, "candidate-contacts", {sealed_id.encode(), legacy_id.encode()}
    )
    by_key: dict[bytes, list[dict[str, Any]]] = {}
    for record in records:
        by_key.setdefault(record.key or b"", []).append(orjson.loads(record.value or b"null"))
    original, replayed = by_key[sealed_id.encode()]
    assert replayed == original and replayed["data"]["email"] == email and replayed["data"]["phone"] == phone
    [legacy_replayed] = by_key[legacy_id.encode()]
    assert legacy_replayed["data"]["email"] == legacy_email


async def test_a_replay_without_the_key_that_sealed_publishes_nothing_sealed(
    archiving: tuple[EventsService, httpx.AsyncClient], archive_settings: EventsSettings
) -> None:
    service, http = archiving
    run = uuid.uuid4().hex[:10]
    since = datetime.now(UTC) - timedelta(minutes=1)
    document = contact_event(f"cand-{run}", f"lea.{run}@example.fr", "+33612345678", f"c-{run}")
    assert (await http.post("/v1/events", content=orjson.dumps(document), headers=SINGLE)).status_code == 202

    async def archived() -> bool:
        return bool(await service.archive.history(f"cand-{run}"))

    await eventually(archived)
    other_keys = archive_settings.model_copy(
        update={"contacts_keys": SecretStr("k9:OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk=")}
    )
    with pytest.raises(Exception, match="not in VOCATION_CONTACTS_KEYS"):
        await replay_slice(other_keys, "candidate-contacts", since, None, None, dry_run=True)
