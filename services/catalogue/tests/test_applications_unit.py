"""The application state on fakes: the state machine, the desk's commands, the partners' answers,
hires filling posts, the unanswered clock and erasure."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from vocation_catalogue.core import applications as apps
from vocation_catalogue.core.applications import (
    ApplicationState,
    EmployerAnswer,
    MatchView,
    Offer,
    Refusal,
)
from vocation_catalogue.handlers import Applications, Handlers
from vocation_catalogue.testing import (
    NOW,
    FakeMetrics,
    FakeSink,
    FakeUnitsOfWork,
    MovingClock,
    answered_event,
    candidate_event,
    match_event,
    match_withdrawn_event,
    vacancy_event,
)
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.vocabulary import (
    ApplicationAnswer,
    ApplicationDeclineReason,
    ApplicationWithdrawalReason,
    MatchDeclineReason,
    OfferKind,
    OfferStatus,
)
from vocation_shared.facts import Tombstone

pytestmark = pytest.mark.unit

SOURCE = "urn:vocation:catalogue"
PARIS = ZoneInfo("Europe/Paris")
OFFER = Offer("v1", OfferKind.VACANCY, True, "01", "J1501")
HIRED = EmployerAnswer(ApplicationAnswer.HIRED)
INTERVIEW = EmployerAnswer(ApplicationAnswer.INTERVIEW_PROPOSED)
DECLINED = EmployerAnswer(ApplicationAnswer.DECLINED, ApplicationDeclineReason.PROFILE_MISMATCH)


class App:
    """The handlers and the desk on one fake database; `nudges` counts the relay's wake-ups."""

    def __init__(self) -> None:
        self.units = FakeUnitsOfWork()
        self.clock = MovingClock()
        self.nudges = 0
        self.handlers = Handlers(
            self.units,
            FakeSink(),
            FakeMetrics(),
            consumer="catalogue",
            source=SOURCE,
            clock=self.clock,
            nudge=self.nudge,
        )
        self.desk = Applications(
            self.units, consumer="catalogue", source=SOURCE, clock=self.clock, nudge=self.nudge
        )

    def nudge(self) -> None:
        self.nudges += 1

    async def given(self, *candidates: str, vacancy: str = "v1", **fields: Any) -> None:
        """The candidates known (from `candidates`) and the vacancy posted."""
        for candidate in candidates:
            await self.handlers.on_candidate(candidate_event(candidate))
        await self.handlers.on_entity(vacancy_event(vacancy, **fields))

    async def submit(self, candidate: str, vacancy: str = "v1") -> apps.Outcome:
        return await self.desk.submit(
            candidate, vacancy, message="Bonjour", share_email=True, share_phone=False
        )

    @property
    def outbox(self) -> list[ev.AnyEvent | Tombstone]:
        return list(self.units.db.outbox)

    def events(self) -> list[ev.AnyEvent]:
        return [f for f in self.units.db.outbox if not isinstance(f, Tombstone)]

    def vacancy_status(self, vacancy: str = "v1") -> str:
        row = self.units.db.row("vacancies", vacancy)
        assert row is not None
        return str(row.columns["status"])


# --- the state machine -------------------------------------------------------------------------


def _submit(record: apps.Application, offer: Offer = OFFER, now: datetime = NOW) -> apps.Step:
    return apps.submit(
        record,
        offer,
        message=None,
        shares=p.SharedContact(),
        summary=p.CandidateSummary(),
        source=SOURCE,
        now=now,
        tz=PARIS,
    )


def test_a_submission_is_due_an_answer_in_ten_working_days_of_the_establishments_departement() -> None:
    step = _submit(apps.blank("c1", OFFER))
    assert step.record.state is ApplicationState.SUBMITTED and step.record.revision == 1
    # Sunday 22 November 2026: Monday 23 is the first working day, Friday 4 December the tenth.
    assert step.record.answer_due == date(2026, 12, 4)
    # In the Moselle, 26 December counts as a holiday: ten working days from 17 December.
    moselle = Offer("v2", OfferKind.VACANCY, True, "57", "J1501")
    late = _submit(apps.blank("c1", moselle), moselle, now=datetime(2026, 12, 17, 12, tzinfo=PARIS))
    assert late.record.answer_due == date(2027, 1, 4)
    assert (
        isinstance(step.fact, ev.ApplicationSubmitted) and step.fact.id == f"{step.record.application_id}.1"
    )


def test_a_pending_application_is_unchanged_by_a_second_submit_and_an_ended_one_refuses_it() -> None:
    submitted = _submit(apps.blank("c1", OFFER)).record
    again = _submit(submitted)
    assert (again.changed, again.refusal, again.record) == (False, None, submitted)
    hired = apps.answer(submitted, HIRED, now=NOW)
    assert isinstance(hired, apps.Application)
    assert _submit(hired).refusal is Refusal.ENDED
    closed = Offer("v1", OfferKind.VACANCY, False, "01", "J1501")
    assert _submit(apps.blank("c1", OFFER), closed).refusal is Refusal.OFFER_CLOSED


def test_answers_follow_the_machine_and_an_answer_after_the_end_is_ignored() -> None:
    submitted = _submit(apps.blank("c1", OFFER)).record
    assert apps.answer(apps.blank("c1", OFFER), INTERVIEW, now=NOW) is Refusal.NOT_SUBMITTED
    interview = apps.answer(submitted, INTERVIEW, now=NOW)
    assert isinstance(interview, apps.Application) and interview.first_answer_at == NOW
    assert apps.answer(interview, INTERVIEW, now=NOW) is None, "the same answer twice"
    hired = apps.answer(interview, HIRED, now=NOW + timedelta(days=3))
    assert isinstance(hired, apps.Application)
    assert hired.state is ApplicationState.HIRED and hired.first_answer_at == NOW
    assert apps.answer(hired, DECLINED, now=NOW) is Refusal.ENDED
    assert apps.answer(hired, HIRED, now=NOW) is None
    declined = apps.answer(submitted, DECLINED, now=NOW)
    assert isinstance(declined, apps.Application)
    assert declined.decline_reason is ApplicationDeclineReason.PROFILE_MISMATCH


def test_a_withdrawal_ends_a_pending_application_and_a_resubmit_reopens_the_same_id() -> None:
    submitted = _submit(apps.blank("c1", OFFER)).record
    withdrawn = apps.withdraw(submitted, ApplicationWithdrawalReason.CANDIDATE, source=SOURCE, now=NOW)
    assert withdrawn.record.state is ApplicationState.WITHDRAWN and withdrawn.changed
    assert not apps.withdraw(
        withdrawn.record, ApplicationWithdrawalReason.CANDIDATE, source=SOURCE, now=NOW
    ).changed
    reopened = _submit(withdrawn.record)
    assert reopened.record.state is ApplicationState.SUBMITTED and reopened.record.withdrawal_reason is None
    assert reopened.record.application_id == submitted.application_id and reopened.record.revision == 3
    assert isinstance(reopened.fact, ev.ApplicationSubmitted) and reopened.fact.id.endswith(".3")
    never = apps.withdraw(
        apps.blank("c1", OFFER), ApplicationWithdrawalReason.CANDIDATE, source=SOURCE, now=NOW
    )
    assert never.refusal is Refusal.NOT_SUBMITTED


def test_the_clock_closes_only_an_application_nobody_answered() -> None:
    submitted = _submit(apps.blank("c1", OFFER)).record
    interview = apps.answer(submitted, INTERVIEW, now=NOW)
    assert isinstance(interview, apps.Application)
    unanswered = ApplicationWithdrawalReason.UNANSWERED
    assert not apps.withdraw(interview, unanswered, source=SOURCE, now=NOW).changed
    assert (
        apps.withdraw(submitted, unanswered, source=SOURCE, now=NOW).record.state
        is ApplicationState.WITHDRAWN
    )
    filled = apps.withdraw(interview, ApplicationWithdrawalReason.OFFER_FILLED, source=SOURCE, now=NOW)
    assert filled.changed, "an offer filled ends an application in interview too"


def test_a_pair_whose_match_was_declined_may_still_apply() -> None:
    declined = apps.decline_match(apps.blank("c1", OFFER), MatchDeclineReason.TOO_FAR, source=SOURCE, now=NOW)
    assert declined.record.state is ApplicationState.MATCH_DECLINED and isinstance(
        declined.fact, ev.MatchDeclined
    )
    assert not apps.decline_match(declined.record, None, source=SOURCE, now=NOW).changed
    assert _submit(declined.record).record.state is ApplicationState.SUBMITTED


# --- the desk ----------------------------------------------------------------------------------


async def test_a_submit_publishes_the_candidates_summary_once_and_a_second_click_nothing() -> None:
    app = App()
    await app.given("c1")
    await app.desk.on_matches([match_event("c1", "v1")])
    first = await app.submit("c1")
    second = await app.submit("c1")

    assert first.changed and not second.changed and second.view == first.view
    assert first.view.state is ApplicationState.SUBMITTED and first.refusal is None
    (submitted,) = app.events()
    assert isinstance(submitted, ev.ApplicationSubmitted)
    summary = submitted.data.summary
    assert [str(d) for d in summary.diplomas] == ["DEAS"] and summary.experience[0].months == 30
    assert summary.available_from == date(2026, 11, 30)
    assert summary.distance_km == 12.4 and summary.reasons[0] == "à 12 km de chez vous"
    assert submitted.data.match_id == "m-c1-v1" and submitted.data.shares.email
    assert app.nudges == 1
    assert await app.desk.view("c1", "v1") == first.view
    assert await app.desk.match("c1", "v1") == MatchView(
        "m-c1-v1", 12.4, tuple(submitted.data.summary.reasons)
    )


async def test_clicks_about_unknown_people_or_offers_or_a_closed_offer_are_refused() -> None:
    app = App()
    await app.given("c1")
    await app.handlers.on_entity(vacancy_event("v2", kind=ev.VacancyClosed, status="closed"))
    assert (await app.submit("nobody")).refusal is Refusal.UNKNOWN_CANDIDATE
    assert (await app.submit("c1", "no-such-offer")).refusal is Refusal.UNKNOWN_OFFER
    assert (await app.submit("c1", "v2")).refusal is Refusal.OFFER_CLOSED
    assert (await app.desk.withdraw("c1", "v1")).refusal is Refusal.NOT_SUBMITTED
    assert (await app.desk.answer("nobody", "v1", HIRED)).refusal is Refusal.UNKNOWN_CANDIDATE
    assert (await app.desk.decline_match("nobody", "v1", None)).refusal is Refusal.UNKNOWN_CANDIDATE
    assert app.events() == [] and app.nudges == 0


async def test_a_candidate_declines_then_applies_then_withdraws_each_told_once() -> None:
    app = App()
    await app.given("c1")
    declined = await app.desk.decline_match("c1", "v1", MatchDeclineReason.HOURS)
    assert declined.view.match_decline_reason is MatchDeclineReason.HOURS
    assert not (await app.desk.decline_match("c1", "v1", MatchDeclineReason.HOURS)).changed
    await app.submit("c1")
    assert (await app.desk.withdraw("c1", "v1")).view.state is ApplicationState.WITHDRAWN
    assert not (await app.desk.withdraw("c1", "v1")).changed
    assert [type(e) for e in app.events()] == [
        ev.MatchDeclined,
        ev.ApplicationSubmitted,
        ev.ApplicationWithdrawn,
    ]
    assert len({e.id for e in app.events()}) == 3


async def test_a_hire_counts_once_and_the_filled_vacancy_withdraws_the_other_applications() -> None:
    app = App()
    await app.given("c1", "c2", "c3", posts=2, posts_filled=1)
    for candidate in ("c1", "c2", "c3"):
        await app.submit(candidate)
    await app.desk.answer("c3", "v1", INTERVIEW)

    first = await app.desk.answer("c1", "v1", HIRED)
    again = await app.desk.answer("c1", "v1", HIRED)
    assert first.changed and not again.changed and again.refusal is None
    # max(posts_filled 1, one platform hire) = 1 of 2: still open.
    assert app.vacancy_status() == "open"
    await app.desk.answer("c2", "v1", HIRED)
    assert app.vacancy_status() == "filled"
    assert app.units.db.hires["v1"] == 2
    withdrawn = [e for e in app.events() if isinstance(e, ev.ApplicationWithdrawn)]
    assert [(e.data.candidate_id, e.data.reason) for e in withdrawn] == [
        ("c3", ApplicationWithdrawalReason.OFFER_FILLED)
    ]
    assert (await app.submit("c1", "v1")).refusal is Refusal.ENDED
    assert (await app.desk.answer("c3", "v1", HIRED)).refusal is Refusal.ENDED


async def test_a_partners_later_version_keeps_the_vacancy_filled_by_platform_hires() -> None:
    app = App()
    await app.given("c1", posts=1)
    await app.submit("c1")
    await app.desk.answer("c1", "v1", HIRED)
    assert app.vacancy_status() == "filled"
    await app.handlers.on_entity(
        vacancy_event("v1", version=2, kind=ev.VacancyUpdated, posts=1, title="Nouveau")
    )
    assert app.vacancy_status() == "filled"


async def test_an_offer_closed_by_its_partner_withdraws_its_pending_applications() -> None:
    app = App()
    await app.given("c1", "c2", "c3")
    await app.submit("c1")
    await app.submit("c2")
    await app.desk.answer("c2", "v1", DECLINED)
    await app.handlers.on_entity(
        vacancy_event("v1", version=2, kind=ev.VacancyClosed, status=OfferStatus.CLOSED)
    )
    withdrawn = [e for e in app.events() if isinstance(e, ev.ApplicationWithdrawn)]
    assert [(e.data.candidate_id, e.data.reason) for e in withdrawn] == [
        ("c1", ApplicationWithdrawalReason.OFFER_CLOSED)
    ]
    assert (await app.desk.view("c2", "v1")).state is ApplicationState.DECLINED


async def test_a_taken_shift_withdraws_the_vacancys_pending_applications_as_filled() -> None:
    app = App()
    await app.given("c1")
    await app.submit("c1")
    taken = p.ShiftAccepted(vacancy_id="v1", candidate_id="c9", accepted_at=NOW)
    await app.handlers.on_entity(ev.ShiftAccepted.build(taken, source="urn:test:partner", time=NOW))
    assert (await app.desk.view("c1", "v1")).withdrawal_reason is ApplicationWithdrawalReason.OFFER_FILLED


# --- Kafka: partners' answers, matches ---------------------------------------------------------


async def test_a_partners_answers_apply_in_order_once_and_its_hire_fills_the_vacancy() -> None:
    app = App()
    await app.given("c1", "c2", posts=1)
    await app.submit("c1")
    await app.submit("c2")
    interview = answered_event("c1", "v1", ApplicationAnswer.INTERVIEW_PROPOSED)
    hired = answered_event("c1", "v1", ApplicationAnswer.HIRED)
    for event in (interview, interview, hired, hired):
        await app.desk.on_application(event)
    late = answered_event("c1", "v1", ApplicationAnswer.DECLINED, reason=ApplicationDeclineReason.OTHER)
    await app.desk.on_application(late)

    assert (await app.desk.view("c1", "v1")).state is ApplicationState.HIRED
    assert app.units.db.hires["v1"] == 1 and app.vacancy_status() == "filled"
    # The partner's facts are on the topic already: the catalogue adds only the other's withdrawal.
    assert [type(e) for e in app.events()] == [ev.ApplicationSubmitted] * 2 + [ev.ApplicationWithdrawn]


async def test_the_catalogues_own_facts_coming_back_change_nothing() -> None:
    app = App()
    await app.given("c1")
    await app.submit("c1")
    await app.desk.answer("c1", "v1", INTERVIEW)
    before = dict(app.units.db.applications)
    for event in app.events():
        await app.desk.on_application(event)
    own = answered_event("c1", "v1", ApplicationAnswer.HIRED, source=SOURCE)
    await app.desk.on_application(own)
    assert app.units.db.applications == before and len(app.events()) == 2


async def test_a_match_is_kept_until_withdrawn_and_names_the_application() -> None:
    app = App()
    await app.given("c1")
    await app.desk.on_matches([match_event("c1", "v1", match_id="m1")])
    await app.desk.on_matches([match_withdrawn_event("c1", "v1", match_id="old")])
    assert (await app.desk.match("c1", "v1")) is not None, "another match's withdrawal"
    await app.desk.on_matches([match_withdrawn_event("c1", "v1", match_id="m1")])
    assert await app.desk.match("c1", "v1") is None


# --- the clock ---------------------------------------------------------------------------------


async def test_the_clock_withdraws_unanswered_applications_on_their_tenth_working_day() -> None:
    app = App()
    await app.given("c1", "c2")
    await app.submit("c1")
    await app.submit("c2")
    await app.desk.answer("c2", "v1", INTERVIEW)
    app.clock.now = datetime(2026, 12, 3, 22, 59, tzinfo=PARIS)  # the ninth working day, late
    assert await app.desk.close_unanswered() == 0
    app.clock.now = datetime(2026, 12, 4, 0, 1, tzinfo=PARIS)  # the tenth, in Paris (23:01 UTC)
    assert await app.desk.close_unanswered() == 1
    assert await app.desk.close_unanswered() == 0, "closed once"
    view = await app.desk.view("c1", "v1")
    assert (view.state, view.withdrawal_reason) == (
        ApplicationState.WITHDRAWN,
        ApplicationWithdrawalReason.UNANSWERED,
    )
    assert (await app.desk.view("c2", "v1")).state is ApplicationState.INTERVIEW_PROPOSED


async def test_the_clock_closes_in_batches() -> None:
    app = App()
    people = [f"c{n}" for n in range(5)]
    await app.given(*people)
    for person in people:
        await app.submit(person)
    app.clock.now = NOW + timedelta(days=30)
    assert await app.desk.close_unanswered(batch=2) == 5


# --- erasure -----------------------------------------------------------------------------------


async def test_erasure_deletes_applications_and_matches_and_tombstones_each_key() -> None:
    app = App()
    await app.given("c1", "c2")
    await app.handlers.on_entity(vacancy_event("v2"))
    await app.desk.on_matches([match_event("c1", "v1")])
    await app.submit("c1")
    await app.desk.decline_match("c1", "v2", None)
    await app.submit("c2")
    withdrawn = p.CandidateWithdrawn(candidate_id="c1", erasure_requested=True)
    await app.handlers.on_candidate(ev.CandidateWithdrawn.build(withdrawn, source="urn:test:partner"))

    tombstones = sorted(f.key for f in app.outbox if isinstance(f, Tombstone))
    ids = sorted(p.application_id_of("c1", o) for o in ("v1", "v2"))
    assert tombstones == [f"c1/{i}" for i in ids]
    assert {a.candidate_id for a in app.units.db.applications.values()} == {"c2"}
    assert app.units.db.matches == {}
    assert not [mark for mark in app.units.db.processed if "m-c1-v1" in mark[2]], "a match id names them"
    # Late facts about them: a match is not kept, a partner's answer becomes a tombstone.
    await app.desk.on_matches([match_event("c1", "v1")])
    assert app.units.db.matches == {}
    await app.desk.on_application(answered_event("c1", "v1", ApplicationAnswer.INTERVIEW_PROPOSED))
    assert [f.key for f in app.outbox if isinstance(f, Tombstone)].count(
        f"c1/{p.application_id_of('c1', 'v1')}"
    ) == 2
    assert (await app.submit("c1")).refusal is Refusal.UNKNOWN_CANDIDATE
