"""The read-model store's contract, run against the in-memory fake and PostgreSQL alike.

The handlers' unit tests rely on the fake behaving like the real store: this is where that is
checked, so that a guard written only in the fake cannot make a unit test pass.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import pytest
from vocation_catalogue.adapters.postgres import PostgresReadModels
from vocation_catalogue.core.projection import vacancy_row
from vocation_catalogue.ports import ReadModelStore
from vocation_catalogue.testing import FakeReadModels, run_id, vacancy_event
from vocation_shared.contracts import events as ev
from vocation_shared.contracts.events import AnyEvent


@dataclass
class Subject:
    """A read-model store and a way to read back a vacancy's stored version (None: no row)."""

    store: ReadModelStore
    version_of: Callable[[str], Awaitable[int | None]]


@pytest.fixture
def fake_subject() -> Subject:
    """The in-memory fake."""
    fake = FakeReadModels()

    async def fake_version(vacancy_id: str) -> int | None:
        row = fake.rows.get(("vacancies", vacancy_id))
        return row.version if row is not None else None

    return Subject(fake, fake_version)


@pytest.fixture
def postgres_subject(pool: asyncpg.Pool) -> Subject:
    """The PostgreSQL store on a fresh database with the catalogue's migrations."""

    async def stored_version(vacancy_id: str) -> int | None:
        version: int | None = await pool.fetchval("SELECT version FROM vacancies WHERE id = $1", vacancy_id)
        return version

    return Subject(PostgresReadModels(pool, consumer=f"contract-{run_id()}"), stored_version)


@pytest.fixture(
    params=[
        pytest.param("fake_subject", marks=pytest.mark.unit, id="fake"),
        pytest.param("postgres_subject", marks=pytest.mark.integration, id="postgres"),
    ]
)
def subject(request: pytest.FixtureRequest) -> Subject:
    """Each store in turn: the contract holds for both."""
    chosen: Subject = request.getfixturevalue(request.param)
    return chosen


async def _apply(store: ReadModelStore, event: AnyEvent) -> bool:
    assert isinstance(event, ev.VacancyPosted | ev.VacancyUpdated | ev.VacancyClosed)
    return await store.apply(vacancy_row(event.data, event.time), event)


async def test_an_older_version_arriving_late_does_not_overwrite_the_newer(subject: Subject) -> None:
    vacancy = f"v-{run_id()}"
    assert await _apply(subject.store, vacancy_event(vacancy, version=2, kind=ev.VacancyUpdated))
    assert not await _apply(subject.store, vacancy_event(vacancy, version=1))
    assert await subject.version_of(vacancy) == 2


async def test_a_newer_version_replaces_the_older(subject: Subject) -> None:
    vacancy = f"v-{run_id()}"
    assert await _apply(subject.store, vacancy_event(vacancy, version=1))
    assert await _apply(subject.store, vacancy_event(vacancy, version=2, kind=ev.VacancyUpdated))
    assert await subject.version_of(vacancy) == 2


async def test_the_same_event_delivered_twice_is_applied_once(subject: Subject) -> None:
    vacancy = f"v-{run_id()}"
    event = vacancy_event(vacancy, version=1)
    assert await _apply(subject.store, event)
    assert not await _apply(subject.store, event)


async def test_an_erased_row_is_gone(subject: Subject) -> None:
    vacancy = f"v-{run_id()}"
    await _apply(subject.store, vacancy_event(vacancy, version=1))
    await subject.store.erase("vacancies", vacancy)
    assert await subject.version_of(vacancy) is None
