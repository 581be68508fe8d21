"""The integration tests' harness: a running service driven by the test, settings, builders of
events, and reading topics back."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.codec import parse_event
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.producers import Service
from vocation_shared.contracts.vocabulary import ApplicationWithdrawalReason
from vocation_shared.kafka import EventPublisher
from vocation_shared.links import DEVELOPMENT_LINK_KEY, Link, LinkSigner
from vocation_shared.testing import samples

from vocation_notifications.app import NotificationsService
from vocation_notifications.settings import NotificationsSettings
from vocation_notifications.testing.fakes import FakeClock
from vocation_notifications.testing.loopback import SmsProviderStub, SmtpSink

# Sunday 22 November 2026, 10:00 in Paris (UTC+1).
MORNING = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


async def eventually(
    check: Callable[[], Awaitable[bool]], within_s: float = 30.0, what: str = "condition"
) -> None:
    """Wait until `check()` is true."""
    deadline = time.monotonic() + within_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {within_s} s")
        await asyncio.sleep(0.05)


TEST_CONTACTS_KEYS = "k1:" + "a2V5LW9mLXRoZS1ub3RpZmljYXRpb25zLXRlc3RzISE="
"""The contacts key of the tests' services (32 bytes): their contacts are sealed, as in production."""


def settings_for_tests(
    *, database_url: str, kafka_bootstrap: str, smtp_port: int, sms_url: str, run: str, **overrides: Any
) -> NotificationsSettings:
    """Settings for a service under test: loopback providers, unique consumer groups, fast retries."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap": kafka_bootstrap,
        "smtp_port": smtp_port,
        "sms_provider": "brevo",
        "sms_url": sms_url,
        "sms_key": "test-key",
        "consumer_group": f"notif-{run}",
        "worker_enabled": False,
        "retry_initial_s": 1.0,
        "retry_max_s": 60.0,
        "retry_max_attempts": 4,
        "contact_grace_s": 60.0,
        "consumer_retry_initial_s": 0.05,
        "consumer_retry_max_s": 0.5,
        "signing_secret": "secret-for-tests",
        "contacts_keys": TEST_CONTACTS_KEYS,
        "public_base_url": "https://notifications.vocation.test",
        "site_base_url": "https://vocation.test",
        # The public test secrets are allowed (the refusal itself is tested on a real process).
        "dev_mode": True,
    }
    values.update(overrides)
    return NotificationsSettings(**values)


@dataclass
class Harness:
    """A running service (worker driven by the test), its providers, clock and publisher."""

    service: NotificationsService
    sink: SmtpSink
    stub: SmsProviderStub
    clock: FakeClock
    publisher: EventPublisher
    run: str
    bootstrap: str
    dsn: str

    def id(self, name: str) -> str:
        """An id unique to this test."""
        return f"{name}-{self.run}"

    async def publish(self, *events: AnyEvent) -> None:
        """Publish and wait for the acknowledgements."""
        await self.publisher.publish_many(events)

    async def fetchval(self, sql: str, *args: object) -> Any:
        """One value from the service's database."""
        return await self.service.pool.fetchval(sql, *args)

    async def rows(self, recipient_id: str) -> list[Mapping[str, Any]]:
        """The outbox rows of a recipient, those kept under their pseudonym after an erasure included."""
        return list(
            await self.service.pool.fetch(
                "SELECT * FROM outbox WHERE recipient_id = ANY($1::text[]) ORDER BY purpose, channel",
                [recipient_id, self.service.pseudonyms.candidate(recipient_id)],
            )
        )

    async def bare_rows(self, recipient_id: str) -> int:
        """How many outbox rows hold the recipient's id itself."""
        return int(await self.fetchval("SELECT count(*) FROM outbox WHERE recipient_id = $1", recipient_id))

    async def wait_rows(self, recipient_id: str, count: int, **where: str) -> list[Mapping[str, Any]]:
        """Wait until the recipient has at least `count` outbox rows (matching `where`)."""

        async def enough() -> bool:
            found = [r for r in await self.rows(recipient_id) if all(r[k] == v for k, v in where.items())]
            return len(found) >= count

        await eventually(enough, what=f"{count} outbox rows for {recipient_id}")
        return await self.rows(recipient_id)

    async def contact_version(self, candidate_id: str) -> int | None:
        """The stored contact's version, or None."""
        value = await self.fetchval("SELECT version FROM contacts WHERE candidate_id = $1", candidate_id)
        return int(value) if value is not None else None

    async def register_contact(self, candidate_id: str, **fields: Any) -> p.CandidateContact:
        """Publish a contact and wait until the service stored it."""
        data = contact(candidate_id, **fields)
        await self.publish(ev.ContactRegistered.build(data, source="urn:test:partner"))
        await eventually(
            lambda: _has_version(self, candidate_id, data.version), what=f"contact {candidate_id} stored"
        )
        return data

    async def drain(self) -> None:
        """Run the worker until nothing is due at the current (fake) time."""
        for _ in range(50):
            if await self.service.worker.run_once() == 0:
                return
        raise AssertionError("the worker never ran out of work")


async def _has_version(h: Harness, candidate_id: str, version: int) -> bool:
    return await h.contact_version(candidate_id) == version


def phone_of(candidate_id: str) -> str:
    """A French mobile number of its own for each test candidate (tests share the topics)."""
    digits = int(hashlib.sha256(candidate_id.encode()).hexdigest(), 16) % 10**8
    return f"+336{digits:08d}"


def contact(candidate_id: str, **fields: Any) -> p.CandidateContact:
    """A contact reachable by email and SMS, consenting to both, instant mode."""
    values: dict[str, Any] = {
        "candidate_id": candidate_id,
        "email": f"{candidate_id}@exemple.fr",
        "phone": phone_of(candidate_id),
        "channels": ["email", "sms"],
        "digest": "instant",
        "version": 1,
    }
    values.update(fields)
    return p.CandidateContact.model_validate(values)


def match(candidate_id: str, offer_id: str, **fields: Any) -> ev.MatchFound:
    """A match of an aide-soignant vacancy at an EHPAD of Bourg-en-Bresse."""
    values: dict[str, Any] = {
        "match_id": f"m-{candidate_id}-{offer_id}",
        "candidate_id": candidate_id,
        "offer_id": offer_id,
        "offer_kind": "vacancy",
        "offer_version": 1,
        "offer_title": "Aide-soignant(e) de nuit",
        "rome_code": "J1501",
        "commune_insee": samples.BOURG_EN_BRESSE,
        "establishment_name": "EHPAD Les Tilleuls",
        "distance_km": 12.4,
        "score": 87,
        "reasons": ["à 12 km de chez vous", "logement proposé", "diplôme DEAS requis : vous l'avez"],
    }
    values.update(fields)
    return ev.MatchFound.build(p.MatchFound.model_validate(values), source=Service.MATCHING.source)


def withdrawal(
    candidate_id: str, offer_id: str, *, event_id: str | None = None, **fields: Any
) -> ev.MatchWithdrawn:
    """The withdrawal (offer closed) of the match `match(candidate_id, offer_id)` announced."""
    values: dict[str, Any] = {
        "match_id": f"m-{candidate_id}-{offer_id}",
        "candidate_id": candidate_id,
        "offer_id": offer_id,
        "offer_kind": "vacancy",
        "reason": "offer_closed",
    }
    values.update(fields)
    data = p.MatchWithdrawn.model_validate(values)
    return ev.MatchWithdrawn.build(data, source=Service.MATCHING.source, id=event_id)


PERSONAL_LINK = re.compile(r"https?://[^/\s\"]+/l/([A-Za-z0-9_-]+)")
DEVELOPMENT_LINKS = LinkSigner([DEVELOPMENT_LINK_KEY])


def personal_links(text: str) -> list[Link]:
    """The personal links of a message (`{site}/l/{token}`), each checked valid under the development
    link key, in order (a message's text or HTML)."""
    found = []
    for token in PERSONAL_LINK.findall(text):
        checked = DEVELOPMENT_LINKS.verify(token)
        if not checked.valid or checked.link is None:
            raise AssertionError(f"not a valid personal link: {token} ({checked.verdict})")
        found.append(checked.link)
    return found


RECRUITER = {"name": "Claire Recruteuse", "email": "recrutement@ehpad-tilleuls.fr", "phone": "+33474000000"}
"""The sample vacancy's recruiting contact (a professional's)."""


def vacancy(offer_id: str, **fields: Any) -> ev.VacancyPosted:
    """The sample aide-soignant vacancy at Bourg-en-Bresse under `offer_id`, with a recruiting contact."""
    values = samples.vacancy(id=offer_id, recruiting_contact=RECRUITER)
    values.update(fields)
    return ev.VacancyPosted.build(p.Vacancy.model_validate(values), source="urn:partner:test")


def _pair(candidate_id: str, offer_id: str, sample: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """A sample fact's data for this candidate and offer (their application id), then `fields`."""
    pair = {"application_id": p.application_id_of(candidate_id, offer_id), "candidate_id": candidate_id}
    return {**sample, **pair, "offer_id": offer_id, **fields}


def submitted(candidate_id: str, offer_id: str, **fields: Any) -> ev.ApplicationSubmitted:
    """The candidate applies to the offer (sharing their email, not their phone, by default)."""
    values = _pair(candidate_id, offer_id, samples.application_submitted(match_id=None), fields)
    data = p.ApplicationSubmitted.model_validate(values)
    return ev.ApplicationSubmitted.build(data, source=Service.CATALOGUE.source)


def answered(candidate_id: str, offer_id: str, answer: str, **fields: Any) -> ev.ApplicationAnswered:
    """The employer's answer to the candidate's application."""
    values = _pair(candidate_id, offer_id, samples.application_answered(answer=answer), fields)
    data = p.ApplicationAnswered.model_validate(values)
    return ev.ApplicationAnswered.build(data, source=Service.CATALOGUE.source)


def application_withdrawn(candidate_id: str, offer_id: str, reason: str) -> ev.ApplicationWithdrawn:
    """The application ended without an answer, for `reason`."""
    data = p.ApplicationWithdrawn(
        application_id=p.application_id_of(candidate_id, offer_id),
        candidate_id=candidate_id,
        offer_id=offer_id,
        reason=ApplicationWithdrawalReason(reason),
        withdrawn_at=datetime(2026, 12, 17, 10, 0, tzinfo=UTC),
    )
    return ev.ApplicationWithdrawn.build(data, source=Service.CATALOGUE.source)


async def _partitions_of(bootstrap: str, topic: str) -> set[int]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        return set(await producer.partitions_for(topic))
    finally:
        await producer.stop()


async def read_events(
    bootstrap: str, topic: str, key: str, expected: int, within_s: float = 20.0
) -> list[AnyEvent]:
    """Events of `topic` with Kafka key `key`, read from the beginning until `expected` are found."""
    found: list[AnyEvent] = []
    deadline = time.monotonic() + within_s
    while len(found) < expected and time.monotonic() < deadline:
        values = await read_values(bootstrap, topic, key, expected, within_s=deadline - time.monotonic())
        found = [parse_event(v) for v in values if v is not None]
    return found


async def read_values(
    bootstrap: str, topic: str, key: str, expected: int, within_s: float = 20.0
) -> list[bytes | None]:
    """Values of the records of `topic` with key `key` (None: a tombstone), in order, from the
    beginning until `expected` are read (or the time is up)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = await _partitions_of(bootstrap, topic)
        consumer.assign([TopicPartition(topic, n) for n in partitions])
        found: list[bytes | None] = []
        deadline = time.monotonic() + within_s
        while len(found) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            for records in batches.values():
                found += [r.value for r in records if r.key == key.encode()]
        return found
    finally:
        await consumer.stop()
