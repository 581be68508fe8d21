"""Against the real broker and database: the running catalogue reads candidates and matches, takes
applications, publishes their facts through its outbox, applies a partner's hire, fills the vacancy,
withdraws the other applications and tombstones an erased person's applications."""

from __future__ import annotations

import pytest
from vocation_catalogue.app import running_service
from vocation_catalogue.core.applications import EmployerAnswer
from vocation_catalogue.settings import CatalogueSettings
from vocation_catalogue.testing import candidate_event, match_event, run_id, vacancy_event
from vocation_catalogue.testing.kafka import eventually, publish, records_of
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.codec import parse_event
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.topics import Topic
from vocation_shared.contracts.vocabulary import ApplicationAnswer, ApplicationWithdrawalReason

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def _records(bootstrap: str, candidate_id: str) -> list[tuple[str, AnyEvent | None]]:
    """(key, event or None for a tombstone) of the candidate's records on `applications`, in order."""
    return [
        (key.decode(), None if value is None else parse_event(value))
        for _, key, value in await records_of(bootstrap, str(Topic.APPLICATIONS), candidate_id)
    ]


async def test_from_application_to_hire_over_kafka(kafka_bootstrap: str, fresh_database: str) -> None:
    run = run_id()
    vacancy, hired, other = f"vac-{run}", f"cand-{run}-hired", f"cand-{run}-other"
    settings = CatalogueSettings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=fresh_database,
        consumer_group=f"catalogue-{run}",
        applications_relay_every_s=0.2,
    )
    async with running_service(settings) as catalogue:
        pool, desk = catalogue.pool, catalogue.applications
        await publish(
            kafka_bootstrap,
            [
                vacancy_event(vacancy, posts=1),
                candidate_event(hired),
                candidate_event(other),
                match_event(hired, vacancy),
            ],
        )

        async def read() -> bool:
            people = await pool.fetchval(
                "SELECT count(*) FROM candidate_supply WHERE id = ANY($1)", [hired, other]
            )
            matched = await pool.fetchval("SELECT count(*) FROM pair_matches WHERE offer_id = $1", vacancy)
            offers = await pool.fetchval("SELECT count(*) FROM vacancies WHERE id = $1", vacancy)
            return (people, matched, offers) == (2, 1, 1)

        await eventually(read)
        for candidate in (hired, other):
            outcome = await desk.submit(
                candidate, vacancy, message="Bonjour", share_email=True, share_phone=False
            )
            assert outcome.changed

        async def submitted() -> bool:
            return any(
                isinstance(e, ev.ApplicationSubmitted) for _, e in await _records(kafka_bootstrap, hired)
            )

        await eventually(submitted)
        # The employer's « Embauché(e) » (a partner's answer joins when the gateway accepts them:
        # until then the consumer dead-letters it as a forged source).
        assert (await desk.answer(hired, vacancy, EmployerAnswer(ApplicationAnswer.HIRED))).changed

        async def withdrawn() -> bool:
            return any(
                isinstance(e, ev.ApplicationWithdrawn) for _, e in await _records(kafka_bootstrap, other)
            )

        await eventually(withdrawn)
        status = await pool.fetchval("SELECT status FROM vacancies WHERE id = $1", vacancy)
        erased = p.CandidateWithdrawn(candidate_id=hired, erasure_requested=True)
        await publish(kafka_bootstrap, [ev.CandidateWithdrawn.build(erased, source="urn:test:partner")])

        async def tombstoned() -> bool:
            return any(e is None for _, e in await _records(kafka_bootstrap, hired))

        await eventually(tombstoned)
        left = await pool.fetchval("SELECT count(*) FROM applications WHERE candidate_id = $1", hired)
        outbox = await pool.fetchval("SELECT count(*) FROM application_outbox")

    assert status == "filled" and left == 0 and outbox == 0
    key = f"{hired}/{p.application_id_of(hired, vacancy)}"
    records = await _records(kafka_bootstrap, hired)
    (sent,) = [e for k, e in records if isinstance(e, ev.ApplicationSubmitted)]
    assert sent.data.summary.distance_km == 12.4 and [str(d) for d in sent.data.summary.diplomas] == ["DEAS"]
    assert sent.data.match_id == f"m-{hired}-{vacancy}"
    assert [k for k, e in records if e is None] == [key], "one tombstone, on the application's key"
    assert [type(e) for k, e in records if e is not None] == [ev.ApplicationSubmitted, ev.ApplicationAnswered]
    (gone,) = [e for _, e in await _records(kafka_bootstrap, other) if isinstance(e, ev.ApplicationWithdrawn)]
    assert gone.data.reason is ApplicationWithdrawalReason.OFFER_FILLED
