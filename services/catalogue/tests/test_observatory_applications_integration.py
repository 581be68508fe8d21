"""Against the real database: the observatory counts the applications' outcome per département and
métier (applications, answer rate, days to a first answer, interviews, hires), small counts hidden."""

from __future__ import annotations

import asyncpg
import pytest
from vocation_catalogue.adapters.postgres.observatory import PostgresObservatory
from vocation_catalogue.adapters.postgres.unit_of_work import PostgresUnitsOfWork
from vocation_catalogue.core.applications import EmployerAnswer
from vocation_catalogue.core.observatory import ObservatoryQuery, report
from vocation_catalogue.handlers import Applications
from vocation_catalogue.testing import (
    NOW,
    FakeSink,
    MovingClock,
    candidate_event,
    days,
    fixed_clock,
    vacancy_event,
)
from vocation_catalogue.testing.harness import SOURCE, postgres_handlers
from vocation_shared.contracts.vocabulary import ApplicationAnswer, ApplicationDeclineReason
from vocation_shared.testing import samples

pytestmark = pytest.mark.integration

INTERVIEW = EmployerAnswer(ApplicationAnswer.INTERVIEW_PROPOSED)


async def test_the_observatory_counts_applications_answers_interviews_and_hires(pool: asyncpg.Pool) -> None:
    handlers = postgres_handlers(pool, FakeSink())
    clock = MovingClock()
    desk = Applications(PostgresUnitsOfWork(pool), consumer="catalogue", source=SOURCE, clock=clock)
    await handlers.on_entity(vacancy_event("ain", posts=5))
    await handlers.on_entity(vacancy_event("landes", commune_insee=samples.MONT_DE_MARSAN))
    people = [f"c{n}" for n in range(8)]
    for person in people:
        await handlers.on_candidate(candidate_event(person))
    for person in people[:6]:
        await desk.submit(person, "ain", message=None, share_email=False, share_phone=False)
    for person in people[6:]:
        await desk.submit(person, "landes", message=None, share_email=False, share_phone=False)
    clock.now = NOW + days(2)
    await desk.answer("c0", "ain", INTERVIEW)
    await desk.answer("c1", "ain", INTERVIEW)
    await desk.answer("c2", "ain", EmployerAnswer(ApplicationAnswer.DECLINED, ApplicationDeclineReason.OTHER))
    clock.now = NOW + days(4)
    await desk.answer("c0", "ain", EmployerAnswer(ApplicationAnswer.HIRED))
    await desk.answer("c6", "landes", EmployerAnswer(ApplicationAnswer.HIRED))

    observatory = PostgresObservatory(pool, clock=fixed_clock(NOW + days(5)))
    query = ObservatoryQuery()
    parts, as_of = await observatory.needs(query)
    answer = report(parts, query, as_of)

    rows = {row["departement"]: row for row in answer["needs"]}  # type: ignore[attr-defined]
    ain, landes = rows["01"], rows["40"]
    assert (ain["applications"], ain["applications_answered"], ain["interviews"], ain["hires"]) == (
        6,
        3,
        2,
        1,
    )
    assert ain["answer_rate"] == 0.5 and ain["median_days_to_first_answer"] == 2.0
    # Two applications, one hire: nearly names the people, hidden (and left out of the totals).
    assert [landes[k] for k in ("applications", "hires", "answer_rate", "median_days_to_first_answer")] == [
        None
    ] * 4
    assert answer["application_counts_hidden"] == 1
    totals = answer["totals"]
    assert (totals["applications"], totals["hires"]) == (6, 1)  # type: ignore[index]
    # Outside the window, nothing is counted.
    parts, _ = await observatory.needs(ObservatoryQuery(window_days=1))
    assert sum(part.applications for part in parts) == 0
