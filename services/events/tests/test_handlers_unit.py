"""The application layer on fakes: accepting events, archiving, erasing, re-driving dead letters,
webhooks' fan-out and delivery."""

from __future__ import annotations

import ast
import base64
import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import vocation_events.handlers
from vocation_events.auth import Authenticator
from vocation_events.core.archive_sealing import ArchiveSeal
from vocation_events.core.dead_letters import DeadLetter
from vocation_events.core.webhooks import Subscription
from vocation_events.handlers.archive import Archive
from vocation_events.handlers.dead_letters import redrive
from vocation_events.handlers.erasure import Erase
from vocation_events.handlers.ingestion import Ingestion
from vocation_events.handlers.webhooks import Deliver, FanOut
from vocation_events.ports import RefusedTarget, Unavailable, WebhookUnreachable
from vocation_events.testing.fakes import (
    FakeDeadLetterQueue,
    FakeDeadLetters,
    FakeMetrics,
    FakePartners,
    FakeRecord,
    FakeSink,
    FakeUnitsOfWork,
    FakeWebhookClient,
    FakeWebhookDeliveries,
    partner,
)
from vocation_shared.backoff import Backoff
from vocation_shared.contracts.payloads import application_id_of
from vocation_shared.sealing import ContactCipher
from vocation_shared.testing import samples

pytestmark = pytest.mark.unit

POSTED = "fr.vocation.vacancy.posted.v1"
NOON = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
HANDLERS = Path(vocation_events.handlers.__file__).parent


def withdrawal(candidate_id: str, erase: bool) -> dict[str, object]:
    return samples.cloud_event(
        "fr.vocation.candidate.withdrawn.v1",
        candidate_id,
        {"candidate_id": candidate_id, "erasure_requested": erase},
        id=f"bye-{candidate_id}",
    )


def vacancy(n: int, **overrides: Any) -> dict[str, Any]:
    event = samples.cloud_event(POSTED, f"vac-{n}", samples.vacancy(id=f"vac-{n}"), id=f"e{n}")
    return event | overrides


def ingestion() -> tuple[Ingestion, FakeUnitsOfWork, FakeSink, FakeMetrics]:
    units, sink, metrics = FakeUnitsOfWork(), FakeSink(), FakeMetrics()
    return Ingestion(units, sink, metrics), units, sink, metrics


# --- ingestion --------------------------------------------------------------------------------


async def test_an_erasure_is_recorded_in_the_claims_unit_of_work() -> None:
    ingest, units, sink, _ = ingestion()
    outcomes = await ingest.ingest(partner(), [withdrawal("cand-1", True), withdrawal("cand-2", False)])
    assert [o.status for o in outcomes] == ["accepted", "accepted"]
    assert units.db.erased() == ["cand-1"]
    assert units.db.commits == 1
    assert [(r.topic, r.key, r.value is None) for r in sink.records] == [
        ("candidates", b"cand-1", False),
        ("candidates", b"cand-1", True),
        ("candidate-contacts", b"cand-1", True),
        ("candidates", b"cand-2", False),
    ]


async def test_a_failed_write_claims_nothing_and_accepts_nothing() -> None:
    ingest, units, sink, metrics = ingestion()
    sink.down = True
    with pytest.raises(Unavailable):
        await ingest.ingest(partner(), [withdrawal("cand-1", True)])
    assert units.db.accepted == set()
    assert units.db.owners == {}
    assert units.db.erased() == []
    assert metrics.events == {}


async def test_an_unreachable_database_writes_nothing() -> None:
    ingest, units, sink, _ = ingestion()
    units.down = True
    with pytest.raises(Unavailable):
        await ingest.ingest(partner(), [vacancy(1)])
    assert sink.records == []


async def test_a_resent_event_is_a_duplicate_written_once_and_counted() -> None:
    ingest, _, sink, metrics = ingestion()
    first = await ingest.ingest(partner(), [vacancy(1), vacancy(1)])
    again = await ingest.ingest(partner(), [vacancy(1), vacancy(2, type="fr.vocation.unknown.v1")])
    assert [o.status for o in first] == ["accepted", "duplicate"]
    assert [o.status for o in again] == ["duplicate", "rejected"]
    assert [r.key for r in sink.records] == [b"vac-1"]
    assert metrics.events == {
        ("accepted", POSTED, "acme"): 1,
        ("duplicate", POSTED, "acme"): 2,
        ("rejected", "fr.vocation.unknown.v1", "acme"): 1,
    }
    assert len(metrics.publish_seconds) == 1  # the second request wrote nothing


async def test_an_api_key_is_looked_up_once_per_cache_period() -> None:
    partners = FakePartners()
    partners.add("key-1", partner())
    now = [0.0]
    auth = Authenticator(partners, ttl_s=5, clock=lambda: now[0])
    assert (await auth.partner("key-1")) == partner()
    partners.by_hash.clear()  # revoked
    assert (await auth.partner("key-1")) is not None  # still cached
    now[0] = 6
    assert (await auth.partner("key-1")) is None
    assert (await auth.partner(None)) is None
    assert (await auth.partner("x" * 500)) is None


# --- archive ------------------------------------------------------------------------------------


def record(offset: int, value: bytes | None, topic: str = "vacancies", key: bytes = b"vac-1") -> FakeRecord:
    return FakeRecord(topic, 0, offset, key, value)


def archive(units: FakeUnitsOfWork, sleeps: list[float] | None = None, budget_s: float = 60.0) -> Archive:
    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)
        units.down = False  # the database is back after the first wait

    return Archive(
        units,
        FakeDeadLetters(),
        FakeMetrics(),
        ArchiveSeal(ContactCipher()),
        delay=lambda attempt: 0.1 * attempt,
        budget_s=budget_s,
        sleep=sleep,
    )


async def test_the_archive_stores_events_dead_letters_the_rest_and_applies_tombstones() -> None:
    units = FakeUnitsOfWork()
    handler = archive(units)
    dead_letters, metrics = handler._dead_letters, handler._metrics
    valid = orjson.dumps(vacancy(1))
    await handler.process(
        [
            record(0, valid),
            record(1, b"not json"),
            record(2, valid, topic="establishments"),  # an event on another type's topic
            record(3, orjson.dumps(vacancy(2))),
            record(4, None),  # vac-1's tombstone: what came before it is forgotten
            record(5, orjson.dumps(vacancy(3))),
        ]
    )
    assert sorted(row[4] for row in units.db.archive.values()) == ["e2", "e3"]
    assert [r.offset for r in dead_letters.records] == [1, 2]  # type: ignore[attr-defined]
    assert metrics.archived_events == {"vacancies": 3}  # type: ignore[attr-defined]


async def test_the_archive_waits_for_the_database_then_stores() -> None:
    units, sleeps = FakeUnitsOfWork(), list[float]()
    units.down = True
    await archive(units, sleeps).process([record(0, orjson.dumps(vacancy(1)))])
    assert sleeps == [0.1]
    assert [row[4] for row in units.db.archive.values()] == ["e1"]


async def test_the_archive_gives_the_batch_back_once_its_budget_is_spent() -> None:
    units = FakeUnitsOfWork()
    units.down = True
    handler = archive(units, budget_s=-1)
    with pytest.raises(Unavailable):
        await handler.process([record(0, orjson.dumps(vacancy(1)))])


# --- erasure ------------------------------------------------------------------------------------


async def test_an_erasure_deletes_the_candidates_archived_rows_then_is_applied() -> None:
    units = FakeUnitsOfWork()
    async with units() as uow:
        rows = [
            ("matches", 0, n, "urn:s", f"m{n}", "t", f"cand-{n % 2}", NOON, "{}", f"cand-{n % 2}")
            for n in range(5)
        ]
        await uow.archive.store(rows)
        await uow.erasures.record("cand-0", "urn:s", "bye")
    erase = Erase(units, erasures_per_pass=10, rows_per_pass=2)
    assert await erase.pending() == 1
    assert await erase.run_once() == 1  # 2 of cand-0's 3 rows: maybe more left, not applied yet
    assert await erase.pending() == 1
    assert await erase.run_once() == 1
    assert await erase.pending() == 0
    assert await erase.run_once() == 0
    assert [row[9] for row in units.db.archive.values()] == ["cand-1", "cand-1"]


async def test_applications_are_archived_sealed_forgotten_by_their_tombstone_and_erased() -> None:
    units = FakeUnitsOfWork()
    handler = archive(units)
    handler._seal = ArchiveSeal(ContactCipher([("k1", b"k" * 32)]))
    await handler.process(
        [
            application(SUBMITTED, "vac-a", 0),
            application(ANSWERED, "vac-a", 1, source="urn:partner:a"),
            application(SUBMITTED, "vac-b", 2),
            application(SUBMITTED, "vac-a", 3, candidate="cand-2"),
        ]
    )
    rows = {row[4]: row for row in units.db.archive.values()}
    assert {event_id: row[9] for event_id, row in rows.items()} == {
        "app-0": "cand-1",
        "app-1": "cand-1",
        "app-2": "cand-1",
        "app-3": "cand-2",
    }
    message = samples.application_submitted()["message"]
    assert orjson.loads(rows["app-0"][8])["data"]["message"].startswith("enc1:k1:")
    assert message not in rows["app-0"][8]
    # The catalogue's tombstone of one application forgets that application, not the candidate's others.
    tombstone = application(SUBMITTED, "vac-a", 4)
    await handler.process([record(4, None, topic="applications", key=tombstone.key)])
    assert sorted(row[4] for row in units.db.archive.values()) == ["app-2", "app-3"]
    # The candidate's erasure takes the rest of their applications out of the archive.
    async with units() as uow:
        await uow.erasures.record("cand-1", "urn:s", "bye")
    assert await Erase(units, erasures_per_pass=10, rows_per_pass=100).run_once() == 1
    assert [row[4] for row in units.db.archive.values()] == ["app-3"]


# --- dead letters -------------------------------------------------------------------------------


def letter(
    offset: int, key: str, reason: str = "processing-failed", value: bytes | None = b"{}"
) -> DeadLetter:
    headers = {"dlq.reason": reason, "dlq.original.topic": "candidates", "ce_id": f"e{offset}"}
    return DeadLetter(0, offset, NOON, key.encode(), value, headers, False)


async def test_a_redrive_writes_back_once_and_skips_erased_candidates_for_good() -> None:
    units, sink = FakeUnitsOfWork(), FakeSink()
    async with units() as uow:
        await uow.erasures.record("cand-gone", "urn:s", "bye")
    queue = FakeDeadLetterQueue(
        "candidates", [letter(0, "cand-1"), letter(1, "cand-gone"), letter(2, "cand-gone", value=None)]
    )
    dry = await redrive(queue, sink, units, dry_run=True)
    assert (len(dry.redriven), len(dry.erased), sink.records, queue.committed) == (2, 1, [], {})
    done = await redrive(queue, sink, units)
    assert [(r.key, r.value) for r in sink.records] == [(b"cand-1", b"{}"), (b"cand-gone", None)]
    assert ("dlq.reason", b"processing-failed") not in sink.records[0].headers
    assert [d.offset for d in done.erased] == [1]
    assert queue.committed == {0: 3}
    again = await redrive(queue, sink, units)
    assert (again.redriven, again.erased) == ([], [])


async def test_a_redrive_of_one_reason_commits_up_to_the_first_letter_of_another() -> None:
    sink = FakeSink()
    queue = FakeDeadLetterQueue(
        "candidates", [letter(0, "c0", "rejected"), letter(1, "c1"), letter(2, "c2", "rejected")]
    )
    done = await redrive(queue, sink, reason="rejected")
    assert [d.offset for d in done.redriven] == [0, 2]
    assert queue.committed == {0: 1}  # offset 1 stays for a re-drive of its own reason


# --- webhooks -----------------------------------------------------------------------------------


def subscribed(*types: str) -> FakeWebhookDeliveries:
    deliveries = FakeWebhookDeliveries()
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    deliveries.subscriptions.append(
        Subscription("sub_1", "portail", "https://portail.ain.fr/h", frozenset(types or {POSTED}), secret)
    )
    return deliveries


async def test_a_partner_fact_under_a_service_source_is_not_sent_out() -> None:
    deliveries = subscribed()
    genuine = vacancy(1)
    spoofed = genuine | {"id": "e2", "source": "urn:vocation:catalogue"}
    records = [record(n, orjson.dumps(event)) for n, event in enumerate([genuine, spoofed])]
    assert await FanOut(deliveries).process(records) == 1
    assert [d["event_id"] for d in deliveries.deliveries] == ["e1"]


async def test_a_redelivered_batch_queues_nothing_twice() -> None:
    deliveries = subscribed()
    fan_out = FanOut(deliveries)
    records = [record(0, orjson.dumps(vacancy(1))), record(1, None), record(2, b"{}")]
    assert await fan_out.process(records) == 1
    assert await fan_out.process(records) == 0


async def queued(deliveries: FakeWebhookDeliveries, *numbers: int) -> None:
    await FanOut(deliveries).process([record(n, orjson.dumps(vacancy(n))) for n in numbers])


async def test_a_delivery_is_signed_and_recorded_delivered() -> None:
    deliveries, client = subscribed(), FakeWebhookClient()
    await queued(deliveries, 1)
    assert await Deliver(deliveries, client, clock=lambda: 1_700_000_000).run_once() == 1
    [(url, body, headers)] = client.posted
    assert url == "https://portail.ain.fr/h"
    assert headers["webhook-id"] == "e1"
    signed = b"e1.1700000000." + body
    expected = base64.b64encode(hmac.new(b"k" * 32, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == "v1," + expected
    assert deliveries.deliveries[0]["state"] == "delivered"


@pytest.mark.parametrize(
    ("answer", "state", "error"),
    [
        (500, "pending", "HTTP 500"),
        (WebhookUnreachable("ConnectError: refused"), "pending", "ConnectError: refused"),
        (RefusedTarget("portail.ain.fr → 10.0.0.1 is a private address"), "failed", "refused: portail"),
    ],
)
async def test_a_failed_delivery_is_retried_later_unless_refused(answer: Any, state: str, error: str) -> None:
    deliveries = subscribed()
    client = FakeWebhookClient({"https://portail.ain.fr/h": answer})
    await queued(deliveries, 1)
    await Deliver(deliveries, client, backoff=Backoff(30, 3600, 12)).run_once()
    [delivery] = deliveries.deliveries
    assert delivery["state"] == state
    assert delivery["last_error"].startswith(error)
    if state == "pending":  # the shared backoff: 30 s with jitter, so partners failing together spread
        assert 15 <= delivery["next_at"] < 30
    else:
        assert delivery["next_at"] == 0


async def test_a_delivery_is_given_up_after_its_last_attempt_and_a_secret_that_does_not_open_fails() -> None:
    deliveries = subscribed()
    await queued(deliveries, 1)
    deliver = Deliver(
        deliveries, FakeWebhookClient({"https://portail.ain.fr/h": 503}), backoff=Backoff(30, 3600, 2)
    )
    await deliver.run_once()
    deliveries.now += 3600
    await deliver.run_once()
    assert deliveries.deliveries[0]["state"] == "failed"
    deliveries.unopenable.add("sub_1")
    await queued(deliveries, 2)
    client = FakeWebhookClient()
    await Deliver(deliveries, client, backoff=Backoff(30, 3600, 1)).run_once()
    assert client.posted == []
    assert "does not open" in deliveries.deliveries[1]["last_error"]


async def test_an_entitys_deliveries_go_in_order() -> None:
    deliveries, client = subscribed(), FakeWebhookClient({"https://portail.ain.fr/h": 500})
    first, second = vacancy(1), vacancy(1, id="e1-updated")
    await FanOut(deliveries).process([record(0, orjson.dumps(first)), record(1, orjson.dumps(second))])
    deliver = Deliver(deliveries, client)
    await deliver.run_once()
    deliveries.now += 3600
    client.answers.clear()
    await deliver.run_once()
    await deliver.run_once()
    assert [headers["webhook-id"] for _, _, headers in client.posted] == ["e1", "e1", "e1-updated"]


SUBMITTED, ANSWERED, WITHDRAWN = (
    f"fr.vocation.application.{t}.v1" for t in ("submitted", "answered", "withdrawn")
)
CATALOGUE, OWNER_A, OWNER_B = "urn:vocation:catalogue", "urn:partner:a", "urn:partner:b"


def application(
    event_type: str, offer: str, n: int, source: str = CATALOGUE, candidate: str = "cand-1"
) -> FakeRecord:
    """A fact of `applications` about `candidate` and `offer`, as the catalogue (or a partner) wrote it."""
    application_id = application_id_of(candidate, offer)
    pair = {"candidate_id": candidate, "offer_id": offer, "application_id": application_id}
    data = {
        SUBMITTED: samples.application_submitted,
        ANSWERED: samples.application_answered,
        WITHDRAWN: lambda **p: p | {"reason": "candidate", "withdrawn_at": "2026-12-05T10:00:00+01:00"},
    }[event_type](**pair)
    event = samples.cloud_event(event_type, candidate, data, id=f"app-{n}", source=source)
    return record(n, orjson.dumps(event), topic="applications", key=f"{candidate}/{application_id}".encode())


def owners_subscribed() -> FakeWebhookDeliveries:
    """Partners a and b both subscribed to the applications; a owns vac-a, no one owns vac-x."""
    deliveries = FakeWebhookDeliveries()
    types = frozenset({SUBMITTED, ANSWERED, WITHDRAWN, POSTED})
    for name, source in (("a", OWNER_A), ("b", OWNER_B)):
        secret = "whsec_" + base64.b64encode(name.encode() * 32).decode()
        deliveries.subscriptions.append(
            Subscription(f"sub_{name}", name, f"https://{name}.fr/h", types, secret, source)
        )
    deliveries.owners["vac-a"] = OWNER_A
    return deliveries


async def test_an_application_goes_by_webhook_to_its_vacancys_owner_and_nobody_else() -> None:
    deliveries = owners_subscribed()
    batch = [
        application(SUBMITTED, "vac-a", 0),
        application(ANSWERED, "vac-a", 1, source=OWNER_A),
        application(WITHDRAWN, "vac-a", 2),
        application(SUBMITTED, "vac-x", 3),  # a vacancy no one owns: no one receives it
    ]
    assert await FanOut(deliveries).process(batch) == 3
    assert [(d["subscription_id"], d["event_id"]) for d in deliveries.deliveries] == [
        ("sub_a", "app-0"),
        ("sub_a", "app-1"),
        ("sub_a", "app-2"),
    ]
    # A catalogue's fact under a partner's source is a forgery: no one receives it.
    assert await FanOut(deliveries).process([application(SUBMITTED, "vac-a", 5, source=OWNER_A)]) == 0
    sent = orjson.loads(deliveries.deliveries[0]["body"])
    assert sent["data"]["message"] == samples.application_submitted()["message"]  # as on the topic
    # A transfer of the vacancy moves the webhook with it, from the next event read.
    deliveries.owners["vac-a"] = OWNER_B
    assert await FanOut(deliveries).process([application(ANSWERED, "vac-a", 4, source=OWNER_B)]) == 1
    assert deliveries.deliveries[-1]["subscription_id"] == "sub_b"


async def test_an_erased_candidates_applications_leave_the_webhook_queue_and_later_ones_go_nowhere() -> None:
    units, deliveries = FakeUnitsOfWork(), owners_subscribed()
    fan_out = FanOut(deliveries, units=units)
    await fan_out.process([application(SUBMITTED, "vac-a", 0), record(1, orjson.dumps(vacancy(1)))])
    await fan_out.process([application(SUBMITTED, "vac-a", 2, candidate="cand-2")])
    assert len(deliveries.deliveries) == 4  # (the vacancy to both partners)
    async with units() as uow:
        await uow.erasures.record("cand-1", "urn:s", "bye")
    assert await Erase(units, deliveries=deliveries).run_once() == 1
    assert [d["event_id"] for d in deliveries.deliveries] == ["e1", "e1", "app-2"]
    assert await fan_out.process([application(WITHDRAWN, "vac-a", 3)]) == 0  # read late: sent to no one


# --- the layer's boundary -------------------------------------------------------------------------

TECHNOLOGIES = ("asyncpg", "aiokafka", "faststream", "prometheus_client", "httpx", "httpcore", "fastapi")


@pytest.mark.parametrize("module", ["ports.py", *sorted(p.name for p in HANDLERS.glob("*.py"))])
def test_the_application_layer_imports_no_technology(module: str) -> None:
    path = HANDLERS.parent / module if module == "ports.py" else HANDLERS / module
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & set(TECHNOLOGIES)
