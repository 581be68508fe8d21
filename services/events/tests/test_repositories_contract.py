"""The ports' contract, run against the in-memory fakes and PostgreSQL alike.

The handlers' unit tests rely on the fakes behaving like the PostgreSQL adapters: this is where
that is checked, through the ports only (the unit of work and its repositories, webhook deliveries).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from vocation_events.adapters.postgres import PostgresPartners
from vocation_events.adapters.unit_of_work import PostgresUnitsOfWork
from vocation_events.adapters.webhooks import PostgresWebhooks
from vocation_events.app import MIGRATIONS
from vocation_events.core.ownership import Ref, Refusal
from vocation_events.core.partners import Partner, hash_api_key
from vocation_events.core.webhooks import Subscription, new_secret
from vocation_events.ports import ArchiveRow, Claims, UnitsOfWork, WebhookDeliveries
from vocation_events.testing.fakes import FakeUnitsOfWork, FakeWebhookDeliveries
from vocation_shared.postgres import create_pool
from vocation_shared.pseudonyms import DEVELOPMENT_PSEUDONYM_KEY, Pseudonymizer
from vocation_shared.testing.contract import fake_then_real

NOON = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)
A, B = "urn:partner:a", "urn:partner:b"
POSTED = "fr.vocation.vacancy.posted.v1"


@pytest.fixture
def fake_units() -> UnitsOfWork:
    return FakeUnitsOfWork()


@pytest.fixture
async def postgres_units(fresh_database: str) -> AsyncIterator[UnitsOfWork]:
    async with create_pool(fresh_database, migrations=[("events", MIGRATIONS)], max_size=4) as pool:
        yield PostgresUnitsOfWork(pool, Pseudonymizer(DEVELOPMENT_PSEUDONYM_KEY))


units = fake_then_real("fake_units", "postgres_units", name="units")
"""Each implementation of the unit of work in turn: the contract holds for both."""


def claims(source: str, *ids: str, refs: tuple[tuple[Ref, ...], ...] | None = None) -> Claims:
    return Claims(source, source.rsplit(":", 1)[-1], list(ids), [POSTED] * len(ids), refs or ((),) * len(ids))


def vacancy_ref(entity_id: str) -> Ref:
    return Ref("vacancy", entity_id, "/subject", True)


async def test_a_key_is_claimed_once(units: UnitsOfWork) -> None:
    async with units() as uow:
        assert (await uow.claims.claim(claims(A, "e1", "e2"))).taken == frozenset()
    async with units() as uow:
        claim = await uow.claims.claim(claims(A, "e2", "e3"))
    assert claim.taken == {"e2"}
    assert claim.refused == {}
    async with units() as uow:
        assert (await uow.claims.claim(claims(B, "e1"))).taken == frozenset()  # another source's key


async def test_a_unit_that_raises_claims_nothing(units: UnitsOfWork) -> None:
    async def failing_write() -> None:
        async with units() as uow:
            await uow.claims.claim(claims(A, "e1", refs=((vacancy_ref("vac-1"),),)))
            raise RuntimeError("the write failed")

    with pytest.raises(RuntimeError):
        await failing_write()
    async with units() as uow:
        claim = await uow.claims.claim(claims(B, "e1", refs=((vacancy_ref("vac-1"),),)))
    assert claim == (frozenset(), {})


async def test_an_entity_belongs_to_its_first_publisher(units: UnitsOfWork) -> None:
    async with units() as uow:
        await uow.claims.claim(claims(A, "a1", refs=((vacancy_ref("vac-1"),),)))
    async with units() as uow:
        claim = await uow.claims.claim(
            claims(B, "b1", "b2", refs=((vacancy_ref("vac-1"),), (vacancy_ref("vac-2"),)))
        )
    assert claim.refused == {0: Refusal(0, A)}
    assert claim.taken == frozenset()
    async with units() as uow:  # the refused event's key was not claimed; the other's was
        assert (await uow.claims.claim(claims(B, "b1", "b2"))).taken == {"b2"}


async def test_a_required_entity_must_be_the_sources_already_and_is_never_claimed(units: UnitsOfWork) -> None:
    def answer(offer: str) -> tuple[Ref, ...]:
        return (Ref("vacancy", offer, "/data/offer_id", claims=False, required=True),)

    async with units() as uow:
        await uow.claims.claim(claims(A, "a1", refs=((vacancy_ref("vac-1"),),)))
    async with units() as uow:  # B answers A's vacancy and one no one owns; A answers its own
        claim = await uow.claims.claim(claims(B, "b1", "b2", refs=(answer("vac-1"), answer("vac-9"))))
    assert claim.refused == {0: Refusal(0, A), 1: Refusal(0, None)}
    async with units() as uow:
        assert await uow.claims.claim(claims(A, "a2", "a3", refs=(answer("vac-1"), answer("vac-9")))) == (
            frozenset(),
            {1: Refusal(0, None)},
        )
    async with units() as uow:  # nothing was claimed: vac-9 is still free for its first publisher
        assert (await uow.claims.claim(claims(B, "b3", refs=((vacancy_ref("vac-9"),),)))).refused == {}


async def test_an_erased_candidate_is_free_again(units: UnitsOfWork) -> None:
    candidate = ((Ref("candidate", "cand-1", "/subject", True),),)
    async with units() as uow:
        await uow.claims.claim(claims(A, "reg", refs=candidate))
    async with units() as uow:
        await uow.claims.release_candidate("cand-1")
    async with units() as uow:
        assert (await uow.claims.claim(claims(B, "reg-b", refs=candidate))).refused == {}


def row(n: int, candidate: str | None, topic: str = "matches") -> ArchiveRow:
    return (topic, 0, n, A, f"e{n}", POSTED, candidate or f"vac-{n}", NOON, '{"a": 1}', candidate)


async def test_the_archive_skips_what_it_has_and_what_is_erased(units: UnitsOfWork) -> None:
    async with units() as uow:
        assert (
            await uow.archive.store([row(1, "cand-1"), row(2, "cand-1"), row(3, "cand-2"), row(4, None)]) == 4
        )
        assert await uow.archive.store([row(1, "cand-1")]) == 0
        await uow.erasures.record("cand-1", A, "bye-1")
        await uow.erasures.record("cand-1", A, "bye-again")  # recorded once
    async with units() as uow:
        assert await uow.archive.store([row(5, "cand-1")]) == 0  # late, about an erased person
        assert await uow.erasures.pending(10) == ["cand-1"]
        assert await uow.erasures.erased_among({"cand-1", "cand-2"}) == {"cand-1"}
        assert await uow.erasures.count_pending() == 1
        assert await uow.archive.delete_of_candidates(["cand-1"], 1) == 1
        assert await uow.archive.delete_of_candidates(["cand-1"], 10) == 1
        await uow.erasures.applied(["cand-1"])
    async with units() as uow:
        assert await uow.erasures.pending(10) == []
        assert await uow.erasures.erased_among({"cand-1"}) == {"cand-1"}  # applied: still known
        assert await uow.archive.store([row(6, "cand-1")]) == 0  # still erased, by pseudonym
        assert await uow.archive.forget("matches", "cand-2") == 1
        assert await uow.archive.forget("matches", "cand-2") == 0


async def test_a_tombstone_of_a_composite_key_forgets_the_events_of_its_record_only(
    units: UnitsOfWork,
) -> None:
    def application(n: int, application_id: str) -> ArchiveRow:
        event = f'{{"data": {{"application_id": "{application_id}", "candidate_id": "cand-1"}}}}'
        return ("applications", 0, n, A, f"a{n}", POSTED, "cand-1", NOON, event, "cand-1")

    async with units() as uow:
        await uow.archive.store([application(1, "app-1"), application(2, "app-1"), application(3, "app-2")])
        assert await uow.archive.forget("applications", "cand-1", ("application_id", "app-1")) == 2
        assert await uow.archive.forget("applications", "cand-1", ("application_id", "app-1")) == 0
        assert await uow.archive.forget("applications", "cand-1") == 1


class FakeSubscriptions:
    """The fake deliveries and a way to subscribe on them."""

    def __init__(self) -> None:
        self.deliveries = FakeWebhookDeliveries()

    async def add(self, partner: str) -> Subscription:
        subscription = Subscription(
            f"sub_{partner}",
            partner,
            "https://p.example/h",
            frozenset({POSTED}),
            new_secret(),
            f"urn:partner:{partner}",
        )
        self.deliveries.subscriptions.append(subscription)
        return subscription

    async def own(self, vacancy: str, source: str) -> None:
        self.deliveries.owners[vacancy] = source


class PostgresSubscriptions:
    """`PostgresWebhooks` and a partner to subscribe for."""

    def __init__(self, webhooks: PostgresWebhooks, partners: PostgresPartners, pool: asyncpg.Pool) -> None:
        self.deliveries: WebhookDeliveries = webhooks
        self._webhooks = webhooks
        self._partners = partners
        self._pool = pool

    async def own(self, vacancy: str, source: str) -> None:
        await self._pool.execute(
            "INSERT INTO entity_owners (kind, entity_id, owner) VALUES ('vacancy', $1, $2)", vacancy, source
        )

    async def add(self, partner: str) -> Subscription:
        await self._partners.create(
            Partner(partner, f"urn:partner:{partner}", frozenset({"*"})), hash_api_key(partner)
        )
        return await self._webhooks.subscribe(partner, "https://p.example/h", frozenset({POSTED}))


@pytest.fixture
def fake_subscriptions() -> FakeSubscriptions:
    return FakeSubscriptions()


@pytest.fixture
async def postgres_subscriptions(fresh_database: str) -> AsyncIterator[PostgresSubscriptions]:
    async with create_pool(fresh_database, migrations=[("events", MIGRATIONS)], max_size=4) as pool:
        yield PostgresSubscriptions(PostgresWebhooks(pool), PostgresPartners(pool), pool)


subscriptions = fake_then_real("fake_subscriptions", "postgres_subscriptions", name="subscriptions")
"""Each implementation of `WebhookDeliveries` in turn."""


async def test_a_subscription_names_its_partners_source_and_vacancies_their_owners(
    subscriptions: FakeSubscriptions | PostgresSubscriptions,
) -> None:
    await subscriptions.add("ats")
    assert [s.source for s in await subscriptions.deliveries.active()] == ["urn:partner:ats"]
    await subscriptions.own("vac-1", "urn:partner:ats")
    await subscriptions.own("vac-2", B)
    owners = await subscriptions.deliveries.owners_of({"vac-1", "vac-2", "vac-9"})
    assert owners == {"vac-1": "urn:partner:ats", "vac-2": B}


async def test_the_deliveries_of_an_erased_candidates_applications_are_deleted_sent_or_not(
    subscriptions: FakeSubscriptions | PostgresSubscriptions,
) -> None:
    subscription = await subscriptions.add("ats")
    submitted, answered = "fr.vocation.application.submitted.v1", "fr.vocation.application.answered.v1"
    queue = [
        (subscription.id, A, "e1", "cand-1", submitted, b"{}"),
        (subscription.id, A, "e2", "cand-1", answered, b"{}"),
        (subscription.id, A, "e3", "cand-2", submitted, b"{}"),
        (subscription.id, A, "e4", "cand-1", POSTED, b"{}"),  # a vacancy whose id is a candidate's: kept
    ]
    deliveries = subscriptions.deliveries
    assert await deliveries.enqueue(queue) == 4
    [first, *_] = await deliveries.claim(1, 30)
    await deliveries.delivered(first.seq)
    assert await deliveries.erase(["cand-1"]) == 2
    assert [d.event_id for d in await deliveries.claim(10, 30)] == ["e3", "e4"]


async def test_deliveries_are_queued_once_and_sent_in_order_per_entity(
    subscriptions: FakeSubscriptions | PostgresSubscriptions,
) -> None:
    subscription = await subscriptions.add("portail")
    deliveries = subscriptions.deliveries
    assert [s.id for s in await deliveries.active()] == [subscription.id]
    queue = [
        (subscription.id, A, f"e{n}", subject, POSTED, b"{}") for n, subject in enumerate(["v1", "v1", "v2"])
    ]
    assert await deliveries.enqueue(queue) == 3
    assert await deliveries.enqueue(queue[:1]) == 0
    due = await deliveries.claim(10, 60)
    assert [(d.event_id, d.attempts) for d in due] == [("e0", 1), ("e2", 1)]
    assert deliveries.secret(subscription.id, due[0].secret) == subscription.secret
    assert await deliveries.claim(10, 60) == []  # leased
    await deliveries.attempt_failed(due[0].seq, "HTTP 500", 0)
    await deliveries.delivered(due[1].seq)
    assert [(d.event_id, d.attempts) for d in await deliveries.claim(10, 60)] == [("e0", 2)]
    await deliveries.attempt_failed(due[0].seq, "HTTP 500", None)  # given up: the next one goes
    assert [d.event_id for d in await deliveries.claim(10, 60)] == ["e1"]
