"""The applications' repositories' contract, run against the in-memory fakes and PostgreSQL alike;
and what only PostgreSQL can show: two submits at once are one application."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from vocation_catalogue.adapters.postgres.applications import OUTBOX
from vocation_catalogue.adapters.postgres.unit_of_work import PostgresUnitsOfWork
from vocation_catalogue.core import applications as apps
from vocation_catalogue.core.applications import ApplicationState, MatchView
from vocation_catalogue.core.pair_matches import Forget, ForgetIf, Keep
from vocation_catalogue.core.projection import candidate_supply_row, vacancy_row
from vocation_catalogue.handlers import Applications, application_tombstone
from vocation_catalogue.ports import UnitsOfWork
from vocation_catalogue.testing import (
    NOW,
    FakeUnitsOfWork,
    MovingClock,
    answered_event,
    candidate_event,
    run_id,
    vacancy_event,
)
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.codec import parse_event
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.vocabulary import ApplicationAnswer, ApplicationWithdrawalReason
from vocation_shared.facts import Fact, Tombstone
from vocation_shared.postgres.outbox import OutboxRelay
from vocation_shared.testing.contract import fake_then_real

SOURCE = "urn:vocation:catalogue"


units = fake_then_real("fake_units", "postgres_units", name="units")


async def _given(units: UnitsOfWork, vacancy: str, *candidates: str, posts: int = 1) -> apps.Offer:
    """A vacancy of `posts` posts and the candidates' supply rows; the vacancy as an offer."""
    posted = vacancy_event(vacancy, posts=posts)
    assert isinstance(posted, ev.VacancyPosted)
    async with units() as uow:
        await uow.read_models.upsert(vacancy_row(posted.data, NOW))
        for candidate in candidates:
            registered = candidate_event(candidate)
            assert isinstance(registered, ev.CandidateRegistered)
            await uow.read_models.upsert(candidate_supply_row(registered.data, NOW))
        offer = await uow.read_models.vacancy_offer(vacancy)
    assert offer is not None
    return offer


async def _queued(units: UnitsOfWork) -> list[Fact]:
    """What the outbox holds, in order."""
    if isinstance(units, FakeUnitsOfWork):
        return list(units.db.outbox)
    assert isinstance(units, PostgresUnitsOfWork)
    rows = await units.pool.fetch("SELECT event FROM application_outbox ORDER BY seq")
    return [
        Tombstone(r[0]["tombstone"]["topic"], r[0]["tombstone"]["key"])
        if "tombstone" in r[0]
        else parse_event(r[0])
        for r in rows
    ]


async def test_an_application_is_held_saved_and_found_pending_then_due(units: UnitsOfWork) -> None:
    run = run_id()
    vacancy, candidate = f"v-{run}", f"c-{run}"
    offer = await _given(units, vacancy, candidate)
    assert offer.open and (offer.departement, offer.rome_code) == ("01", "J1501")
    async with units() as uow:
        assert await uow.applications.get(candidate, vacancy) is None
        held = await uow.applications.hold(apps.blank(candidate, offer))
        assert held == apps.blank(candidate, offer)
        submitted = replace(
            held,
            state=ApplicationState.SUBMITTED,
            revision=1,
            match_id="m1",
            submitted_at=NOW,
            answer_due=date(2026, 12, 4),
        )
        await uow.applications.save(submitted)
        assert await uow.applications.hold(apps.blank(candidate, offer)) == submitted, "kept, not reset"
        assert await uow.applications.get(candidate, vacancy) == submitted
        assert await uow.applications.pending_of(vacancy) == [submitted]
        assert await uow.applications.due(date(2026, 12, 3), 10) == []
        assert await uow.applications.due(date(2026, 12, 4), 10) == [submitted]
        withdrawn = replace(
            submitted,
            state=ApplicationState.WITHDRAWN,
            withdrawal_reason=ApplicationWithdrawalReason.UNANSWERED,
        )
        await uow.applications.save(withdrawn)
        assert await uow.applications.pending_of(vacancy) == []
        assert await uow.applications.due(date(2027, 1, 1), 10) == []
        assert await uow.applications.delete_of(candidate) == [submitted.application_id]
        assert await uow.applications.get(candidate, vacancy) is None


async def test_a_pairs_match_is_replaced_forgotten_only_by_its_id_and_erased(units: UnitsOfWork) -> None:
    candidate = f"c-{run_id()}"
    async with units() as uow:
        await uow.matches.apply({(candidate, "v1"): Keep(MatchView("m1", 3.5, ("près de chez vous",)))})
        await uow.matches.apply(
            {
                (candidate, "v1"): Keep(MatchView("m2", None, ("a", "b"))),
                (candidate, "v2"): Keep(MatchView("m3", 1.0, ("c",))),
            }
        )
        assert await uow.matches.get(candidate, "v1") == MatchView("m2", None, ("a", "b"))
        await uow.matches.apply({(candidate, "v1"): ForgetIf(frozenset({"m1"}))})
        assert await uow.matches.get(candidate, "v1") is not None, "another match's withdrawal"
        await uow.matches.apply(
            {(candidate, "v1"): ForgetIf(frozenset({"m0", "m2"})), (candidate, "v3"): Forget()}
        )
        assert await uow.matches.get(candidate, "v1") is None
        await uow.matches.apply({(candidate, "v2"): Forget()})
        assert await uow.matches.get(candidate, "v2") is None
        await uow.matches.apply({(candidate, "v4"): Keep(MatchView("m4", 2.0, ()))})
        await uow.matches.delete_of(candidate)
        assert await uow.matches.get(candidate, "v4") is None


async def test_the_erased_among_some_pseudonyms_are_told_in_one_answer(units: UnitsOfWork) -> None:
    erased, kept = f"ps-{run_id()}", f"ps-{run_id()}"
    async with units() as uow:
        await uow.erasures.remember(erased)
        assert await uow.erasures.erased_among([erased, kept]) == frozenset({erased})
        assert await uow.erasures.erased_among([]) == frozenset()


async def test_platform_hires_fill_a_vacancy_at_its_posts_whatever_its_partner_states(
    units: UnitsOfWork,
) -> None:
    vacancy = f"v-{run_id()}"
    await _given(units, vacancy, posts=2)
    async with units() as uow:
        assert not await uow.read_models.settle_hires(vacancy, NOW)
        assert not await uow.read_models.count_hire(vacancy, NOW)
        assert await uow.read_models.count_hire(vacancy, NOW), "the second of two posts"
        offer = await uow.read_models.vacancy_offer(vacancy)
        assert offer is not None and not offer.open
        assert not await uow.read_models.count_hire(vacancy, NOW), "filled already"
        assert await uow.read_models.vacancy_offer(f"other-{vacancy}") is None


async def test_a_candidates_summary_comes_from_their_profile(units: UnitsOfWork) -> None:
    candidate = f"c-{run_id()}"
    await _given(units, f"v-{candidate}", candidate)
    async with units() as uow:
        summary = await uow.read_models.candidate_summary(candidate)
        assert await uow.read_models.candidate_summary(f"other-{candidate}") is None
        await uow.read_models.erase("candidate_supply", candidate)
        assert await uow.read_models.candidate_summary(candidate) is None
    assert summary == p.CandidateSummary(
        diplomas=["DEAS"],
        experience=[p.Experience(rome_code="J1501", months=30)],
        available_from=date(2026, 11, 30),
    )


async def test_the_outbox_keeps_events_once_and_tombstones_in_order(units: UnitsOfWork) -> None:
    run = run_id()
    offer = await _given(units, f"v-{run}", f"c-{run}")
    step = apps.submit(
        apps.blank(f"c-{run}", offer),
        offer,
        message=None,
        shares=p.SharedContact(),
        summary=p.CandidateSummary(),
        source=SOURCE,
        now=NOW,
        tz=ZoneInfo("Europe/Paris"),
    )
    assert step.fact is not None
    tombstone = application_tombstone(f"c-{run}", step.record.application_id)
    async with units() as uow:
        await uow.outbox.queue([step.fact, tombstone])
        await uow.outbox.queue([step.fact])
    assert await _queued(units) == [step.fact, tombstone]


@pytest.mark.integration
async def test_two_tabs_submitting_at_once_make_one_application_and_one_fact(pool: asyncpg.Pool) -> None:
    run = run_id()
    units = PostgresUnitsOfWork(pool)
    await _given(units, f"v-{run}", f"c-{run}")
    desk = Applications(units, consumer="catalogue", source=SOURCE)
    outcomes = await asyncio.gather(
        *(
            desk.submit(f"c-{run}", f"v-{run}", message=None, share_email=False, share_phone=False)
            for _ in range(4)
        )
    )
    assert sorted(o.changed for o in outcomes) == [False, False, False, True]
    assert {o.view for o in outcomes} == {outcomes[0].view}
    assert await pool.fetchval("SELECT count(*) FROM applications") == 1
    assert [type(f) for f in await _queued(units)] == [ev.ApplicationSubmitted]


@pytest.mark.integration
async def test_on_postgres_a_partners_hire_fills_the_vacancy_and_the_clock_closes_the_rest(
    pool: asyncpg.Pool,
) -> None:
    run = run_id()
    units = PostgresUnitsOfWork(pool)
    vacancy, hired, late, waiting = f"v-{run}", f"c-{run}-1", f"c-{run}-2", f"c-{run}-3"
    await _given(units, vacancy, hired, late, waiting, posts=1)
    await _given(units, f"{vacancy}-other", waiting, posts=1)
    clock = MovingClock()
    desk = Applications(units, consumer="catalogue", source=SOURCE, clock=clock)
    for candidate in (hired, late):
        await desk.submit(candidate, vacancy, message=None, share_email=False, share_phone=False)
    await desk.submit(waiting, f"{vacancy}-other", message=None, share_email=False, share_phone=False)

    await desk.on_application(answered_event(hired, vacancy, ApplicationAnswer.HIRED))
    await desk.on_application(answered_event(hired, vacancy, ApplicationAnswer.HIRED))
    row = await pool.fetchrow("SELECT status, platform_hires, data FROM vacancies WHERE id = $1", vacancy)
    assert (row["status"], row["platform_hires"], row["data"]["posts_filled"]) == ("filled", 1, 1)
    assert (await desk.view(late, vacancy)).withdrawal_reason is ApplicationWithdrawalReason.OFFER_FILLED

    clock.now = datetime(2026, 12, 3, 12, tzinfo=ZoneInfo("Europe/Paris"))
    assert await desk.close_unanswered() == 0
    clock.now = datetime(2026, 12, 4, 8, tzinfo=ZoneInfo("Europe/Paris"))
    assert await desk.close_unanswered() == 1
    assert (
        await desk.view(waiting, f"{vacancy}-other")
    ).withdrawal_reason is ApplicationWithdrawalReason.UNANSWERED
    queued = await _queued(units)
    kinds = [(type(f).__name__, f.data.candidate_id) for f in queued if not isinstance(f, Tombstone)]
    assert kinds == [
        ("ApplicationSubmitted", hired),
        ("ApplicationSubmitted", late),
        ("ApplicationSubmitted", waiting),
        ("ApplicationWithdrawn", late),
        ("ApplicationWithdrawn", waiting),
    ]


class FlakyPublisher:
    """A broker that refuses the first `failures` publishes, then records what it acknowledged."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.published: list[AnyEvent] = []

    async def publish_many(self, events: Iterable[AnyEvent]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the broker did not acknowledge")
        self.published += list(events)

    async def tombstone(self, topic: str, key: str) -> None:
        raise AssertionError("no tombstone here")


@pytest.mark.integration
async def test_a_fact_committed_while_the_broker_is_away_is_published_by_a_later_relay(
    pool: asyncpg.Pool,
) -> None:
    run = run_id()
    units = PostgresUnitsOfWork(pool)
    await _given(units, f"v-{run}", f"c-{run}")
    outcome = await Applications(units, consumer="catalogue", source=SOURCE).submit(
        f"c-{run}", f"v-{run}", message=None, share_email=False, share_phone=False
    )
    assert outcome.changed  # committed: the page answers, whatever the broker does
    broker = FlakyPublisher(failures=1)
    relay = OutboxRelay(pool, OUTBOX, broker)
    with pytest.raises(ConnectionError):
        await relay.relay()
    assert len(await _queued(units)) == 1, "kept for the next relay"
    assert await relay.relay() == 1
    assert [type(e) for e in broker.published] == [ev.ApplicationSubmitted] and await _queued(units) == []
