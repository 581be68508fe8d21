"""Erasure erases: after a candidate's erasure and a forced compaction on the real broker, no trace is left.

Where a trace is looked for: every record (key, value, headers) of every topic, dead-letter
topics included, read from the beginning by a plain Kafka client; every row of every table of
every service's database (the events archive included); the matching snapshot. What is looked
for: the person's id, first name, email and phone (also hex-encoded, as a bytea column shows it).
The one exception is a tombstone: its key is the id, and Kafka keeps it `delete.retention.ms` so
that every consumer sees the erasure.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from vocation_local.e2e import Platform, eventually, sms_to
from vocation_local.faults import read_topics
from vocation_local.kafka_admin import describe_topics
from vocation_shared.contracts.topics import ENTITY_TOPICS, Topic, spec_of

from tests.security.kit import (
    VALSERHONE,
    Partner,
    candidate,
    mails_about,
    new_phone,
    query,
    vacancy,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DAY_MS = 24 * 3600 * 1000
DEAF = ("K1309", "DEAF")
COMPACTION_WITHIN_S = 100.0
FORCED = {
    "segment.ms": "1000",
    "max.compaction.lag.ms": "1000",
    "min.cleanable.dirty.ratio": "0.01",
    "min.compaction.lag.ms": "0",
}
ABOUT_PEOPLE = (Topic.CANDIDATES, Topic.CANDIDATE_CONTACTS, Topic.MATCHES, Topic.NOTIFICATIONS)
ABOUT_PEOPLE += (Topic.IMMERSION_BOOKINGS,)


@dataclass(frozen=True)
class Person:
    """Who is erased: what identifies them."""

    id: str
    first_name: str
    email: str
    phone: str

    def needles(self) -> dict[str, str]:
        return {"id": self.id, "first name": self.first_name, "email": self.email, "phone": self.phone}


@dataclass
class Traces:
    """Where each kind of trace was still found, after the wait."""

    found: list[tuple[str, str]]  # (needle's name, where)

    def of(self, *names: str) -> list[str]:
        return [f"{name} in {where}" for name, where in self.found if name in names]


def _compacted() -> list[str]:
    """The topics Kafka compacts (`compact`, and `compact,delete` for the facts about people)."""
    return [str(t.name) for t in ENTITY_TOPICS if t.cleanup.compacts]


async def _alter(bootstrap: str, configs: dict[str, dict[str, str]]) -> None:
    """Set the whole topic-level configuration of each topic (AlterConfigs replaces it)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        resources = [ConfigResource(ConfigResourceType.TOPIC, n, configs=c) for n, c in configs.items()]
        for response in await admin.alter_configs(resources):
            for resource in response.to_object()["resources"]:
                assert resource["error_code"] == 0, resource
    finally:
        await admin.close()


async def _roll(bootstrap: str, topics: list[str]) -> None:
    """A tombstone of an unknown id on every partition: the segment holding the erasure rolls over."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for topic in topics:
            for partition in sorted(await producer.partitions_for(topic)):
                await producer.send_and_wait(
                    topic, None, key=f"sec-roll-{uuid.uuid4().hex}".encode(), partition=partition
                )
    finally:
        await producer.stop()


async def _all_topics(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return sorted(t for t in await admin.list_topics() if not t.startswith("__"))
    finally:
        await admin.close()


def _kafka_traces(
    platform: Platform, person: Person, topics: list[str] | None = None
) -> list[tuple[str, str]]:
    """Traces in every record of `topics` (default: every topic but Kafka's own)."""
    topics = topics or asyncio.run(_all_topics(platform.kafka_bootstrap))
    records = asyncio.run(read_topics(platform.kafka_bootstrap, topics, within_s=60))
    found = []
    for record in records:
        headers = b"\n".join(k.encode() + b"=" + (v or b"") for k, v in record.headers)
        where = f"topic {record.topic}[{record.partition}]@{record.offset}"
        for name, needle in person.needles().items():
            raw = needle.encode()
            if raw in (record.value or b"") or raw in headers:
                found.append((name, where + (" (value or headers)")))
            elif raw in (record.key or b"") and record.value is not None:
                found.append((name, where + " (key of a record that is no tombstone)"))
    return found


async def _table_traces(dsn: str, service: str, person: Person) -> list[tuple[str, str]]:
    connection = await asyncpg.connect(dsn)
    try:
        tables = await connection.fetch(
            """
            SELECT table_schema, table_name FROM information_schema.tables
            WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
            """
        )
        found = []
        for table in tables:
            name = f'"{table["table_schema"]}"."{table["table_name"]}"'
            for label, needle in person.needles().items():
                patterns = [f"%{needle}%", f"%{needle.encode().hex()}%"]
                hit = await connection.fetchval(
                    f"SELECT count(*) FROM {name} AS r WHERE r::text LIKE ANY($1::text[])", patterns
                )
                if hit:
                    found.append((label, f"{service} table {name} ({hit} rows)"))
        return found
    finally:
        await connection.close()


def _snapshot_traces(folder: Path, person: Person) -> list[tuple[str, str]]:
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        content = path.read_bytes()
        found += [
            (label, f"matching snapshot {path.name}")
            for label, needle in person.needles().items()
            if needle.encode() in content
        ]
    return found


def test_compacted_topics_are_really_compacted_and_personal_dead_letters_kept_30_days(
    platform: Platform,
) -> None:
    """As created for the platform, before the test below forces anything."""
    described = asyncio.run(
        describe_topics(platform.kafka_bootstrap, [*_compacted(), *(t + ".dlq" for t in ABOUT_PEOPLE)])
    )
    wrong = []
    for name in _compacted():
        config = described[name].config
        if "compact" not in config.get("cleanup.policy", ""):
            wrong.append(f"{name}: cleanup.policy={config.get('cleanup.policy')}")
        lag = int(config.get("max.compaction.lag.ms", str(2**63 - 1)))
        # Facts about people (compact,delete) are safe from compaction for a week, then compacted
        # within a day like the other compacted topics.
        safe = int(config.get("min.compaction.lag.ms", "0"))
        segment = int(config.get("segment.ms", str(7 * DAY_MS)))
        if safe > 7 * DAY_MS or lag > safe + DAY_MS:
            wrong.append(f"{name}: min/max.compaction.lag.ms={safe}/{lag}")
        if segment > DAY_MS:
            wrong.append(f"{name}: segment.ms={segment}")
    for name in (str(t) + ".dlq" for t in ABOUT_PEOPLE):
        retention = int(described[name].config.get("retention.ms", "-1"))
        if retention < 0 or retention > 30 * DAY_MS:
            wrong.append(f"{name}: retention.ms={retention}")
    assert not wrong, "erased records could stay for days or a year: " + "; ".join(wrong)


@pytest.fixture(scope="module")
def erased(
    platform: Platform, partner_a: Partner, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Traces]:
    """A candidate with a profile, a contact, matches and notifications, erased; then compaction forced."""
    snapshots = tmp_path_factory.mktemp("matching-snapshot")
    platform.stop("matching")
    platform.environments["matching"]["VOCATION_SNAPSHOT_DIR"] = str(snapshots)
    platform.start("matching")
    platform.wait_ready("matching")

    run = uuid.uuid4().hex[:8]
    person = Person(f"cand-{run}-mila", f"Ysaline{run}", f"mila.{run}@example.org", new_phone())
    registration = candidate(run, "mila", VALSERHONE, *DEAF, person.email, person.phone, person.first_name)
    partner_a.post(platform, partner_a.event("fr.vocation.candidate.registered.v1", person.id, registration))
    offer = vacancy(run, "famille", VALSERHONE, *DEAF, title="Assistant(e) familial(e) à Valserhône")
    partner_a.post(platform, partner_a.event("fr.vocation.vacancy.posted.v1", offer["id"], offer))
    eventually(lambda: bool(mails_about(platform, person.email, offer["id"])), "the match email", platform)
    eventually(lambda: bool(sms_to(platform, person.phone)), "the match SMS", platform)
    db = platform.databases
    eventually(
        lambda: bool(
            query(db["matching"], "SELECT 1 FROM emitted_matches WHERE candidate_id = $1", person.id)
        ),
        "the match recorded",
        platform,
    )

    withdrawn = {
        "candidate_id": person.id,
        "erasure_requested": True,
        "reason": "demande d'effacement (RGPD)",
    }
    partner_a.post(platform, partner_a.event("fr.vocation.candidate.withdrawn.v1", person.id, withdrawn))
    eventually(
        lambda: not query(db["notifications"], "SELECT 1 FROM contacts WHERE candidate_id = $1", person.id),
        "the contact erased",
        platform,
        30,
    )

    compacted = _compacted()
    asyncio.run(_alter(platform.kafka_bootstrap, {n: spec_of(n).kafka_config() | FORCED for n in compacted}))
    try:
        time.sleep(1.5)  # older than segment.ms: the next record rolls the segment
        asyncio.run(_roll(platform.kafka_bootstrap, compacted))
        # Until the cleaner has run over the erasure (or the time is up), then once over everything.
        deadline = time.monotonic() + COMPACTION_WITHIN_S
        while _kafka_traces(platform, person, compacted) and time.monotonic() < deadline:
            time.sleep(5)
        time.sleep(2)  # the services' own erasure work has long been done; a last margin
        found = _kafka_traces(platform, person)
        for service, dsn in db.items():
            found += asyncio.run(_table_traces(dsn, service, person))
        platform.stop("matching")  # a clean stop writes the snapshot
        found += _snapshot_traces(snapshots, person)
        found += [
            ("snapshot permissions", f"{p.name} (mode {p.stat().st_mode & 0o777:o})")
            for p in snapshots.rglob("*")
            if p.stat().st_mode & 0o077
        ]
        yield Traces(found)
    finally:
        asyncio.run(_alter(platform.kafka_bootstrap, {n: spec_of(n).kafka_config() for n in compacted}))
        if platform.processes["matching"].poll() is not None:
            platform.start("matching")
            platform.wait_ready("matching")


def test_after_erasure_no_name_email_or_phone_is_left_anywhere(erased: Traces) -> None:
    left = erased.of("first name", "email", "phone")
    assert not left, "after erasure and compaction:\n" + "\n".join(left)


def test_after_erasure_the_persons_id_is_left_only_in_tombstone_keys(erased: Traces) -> None:
    """The topics of facts about people are compacted and their producers write a tombstone of the
    person (or of each of their immersion requests); the ledgers keep keyed pseudonyms."""
    left = erased.of("id")
    assert not left, "after erasure and compaction:\n" + "\n".join(left)


def test_the_matching_snapshot_is_readable_by_its_owner_only(erased: Traces) -> None:
    left = erased.of("snapshot permissions")
    assert not left, "readable by other users: " + ", ".join(left)
