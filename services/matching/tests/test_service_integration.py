"""Against the real broker and database: offers and candidates in, match events out, once each."""

from __future__ import annotations

import asyncio
import stat
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from vocation_local.answering import live_ready_metrics
from vocation_local.kafka_admin import end_offsets, start_groups_at, start_groups_at_end
from vocation_matching.adapters import snapshot
from vocation_matching.adapters.state_reader import partitions_of
from vocation_matching.app import MatchingService, running_service
from vocation_matching.core.model import OfferSource, stable_hash
from vocation_matching.settings import MatchingSettings
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.producers import Service
from vocation_shared.contracts.topics import Topic
from vocation_shared.kafka import EventPublisher, make_broker
from vocation_shared.testing import samples
from vocation_shared.testing.process import service_environment, start_service

pytestmark = pytest.mark.integration

SOURCE = "urn:test:matching"
MONT_DE_MARSAN = "40192"
AURILLAC = "15014"


@dataclass(frozen=True)
class FixedClock:
    day: date = date(2026, 11, 22)

    def today(self) -> date:
        return self.day


def _settings(bootstrap: str, dsn: str, group: str, **overrides: Any) -> MatchingSettings:
    return MatchingSettings(
        kafka_bootstrap=bootstrap,
        database_url=dsn,
        consumer_group=group,
        min_score=0,
        consumer_retry_initial_s=0.05,
        consumer_retry_max_s=0.5,
        database_pool_size=4,
        **overrides,
    )


REACTED_TOPICS = (
    Topic.CANDIDATES,
    Topic.VACANCIES,
    Topic.TRAININGS,
    Topic.IMMERSION_SLOTS,
    Topic.APPLICATIONS,
)
_test_start: dict[tuple[str, int], int] = {}


@pytest.fixture(autouse=True)
async def _topics_at_test_start(kafka_bootstrap: str) -> None:
    """Where the topics end when a test begins: its groups start there, not at other tests' backlog."""
    _test_start.clear()
    _test_start.update(await end_offsets(kafka_bootstrap, REACTED_TOPICS))


@asynccontextmanager
async def _service(settings: MatchingSettings) -> AsyncIterator[MatchingService]:
    # A new group reacts to what this test published (even before the service started), as a
    # deployed group would; the state is still read from the beginning, as in production.
    await start_groups_at(
        settings.kafka_bootstrap,
        {f"{settings.consumer_group}.{topic}": topic for topic in REACTED_TOPICS},
        _test_start,
    )
    async with running_service(settings, FixedClock()) as service:
        await asyncio.wait_for(service.wait_ready(), 60)
        yield service


async def _publish(bootstrap: str, events: list[AnyEvent]) -> None:
    broker = make_broker(bootstrap, client_id="matching-test-publisher")
    await broker.connect()
    try:
        for event in events:
            await EventPublisher(broker).publish(event)
    finally:
        await broker.stop()


def _candidate(run: str, n: int, **overrides: Any) -> ev.CandidateRegistered:
    profile = p.CandidateRegistration.model_validate(samples.candidate(id=f"cand-{run}-{n}", **overrides))
    return ev.CandidateRegistered.build(profile, source=SOURCE, id=f"evt-cand-{run}-{n}")


def _vacancy(run: str, n: int = 1, event: type[Any] = ev.VacancyPosted, **overrides: Any) -> AnyEvent:
    vacancy = p.Vacancy.model_validate(samples.vacancy(id=f"vac-{run}-{n}", **overrides))
    suffix = f"{event.TYPE.split('.')[-2]}-v{vacancy.version}"
    built: AnyEvent = event.build(vacancy, source=SOURCE, id=f"evt-vac-{run}-{n}-{suffix}")
    return built


class MatchesTopic:
    """Reads the `matches` topic from the beginning, keeping the events about one test run."""

    def __init__(self, bootstrap: str, run: str) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self._run = run
        self._bootstrap = bootstrap
        self.events: list[dict[str, Any]] = []
        self.order: list[tuple[str, str]] = []  # (key, event type or "tombstone"), as read

    async def __aenter__(self) -> MatchesTopic:
        partitions = await partitions_of(self._bootstrap, ("matches",))
        await self._consumer.start()
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def poll(self) -> None:
        batches = await self._consumer.getmany(timeout_ms=200)
        for records in batches.values():
            for record in records:
                if record.key is None or self._run not in record.key.decode(errors="replace"):
                    continue  # other tests write here too (some of them on purpose, not JSON)
                if record.value is None:
                    self.order.append((record.key.decode(), "tombstone"))
                    continue
                event = orjson.loads(record.value)
                # Offers of earlier tests (same places, same métier) are open too: keep this run's pairs.
                if self._run in event["data"]["candidate_id"] and self._run in event["data"]["offer_id"]:
                    assert record.key == event["data"]["candidate_id"].encode()
                    self.events.append(event)
                    self.order.append((record.key.decode(), event["type"]))

    async def wait_for(self, check: Callable[[list[dict[str, Any]]], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not check(self.events):
            if time.monotonic() > deadline:
                raise AssertionError(f"not reached in time; events: {[e['type'] for e in self.events]}")
            await self.poll()

    async def settle(self, seconds: float = 1.5) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await self.poll()

    def of_type(self, fact: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == f"fr.vocation.match.{fact}.v1"]


def _found(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "fr.vocation.match.found.v1"]


def _assigned(service: MatchingService, topic: str) -> int:
    total = 0
    for subscriber in service.broker.subscribers:
        consumer = getattr(subscriber, "consumer", None)
        if consumer is not None:
            total += sum(1 for tp in consumer.assignment() if tp.topic == topic)
    return total


async def _wait_for_shared_assignment(one: MatchingService, two: MatchingService, topic: str) -> None:
    deadline = time.monotonic() + 30
    while not (
        _assigned(one, topic) > 0
        and _assigned(two, topic) > 0
        and _assigned(one, topic) + _assigned(two, topic) == 3
    ):
        assert time.monotonic() < deadline, "the group did not share the partitions in time"
        await asyncio.sleep(0.1)


def _run() -> str:
    return uuid.uuid4().hex[:8]


async def test_restart_from_a_snapshot_applies_what_changed_meanwhile_as_a_full_rebuild_would(
    kafka_bootstrap: str, fresh_database: str, tmp_path: Path
) -> None:
    run = _run()
    ids = [f"cand-{run}-{n}" for n in range(4)]
    folder = tmp_path / "snapshots"
    contact = {"first_name": "Zélie", "email": f"zelie.{run}@example.org", "phone": "+33612345678"}
    await _publish(
        kafka_bootstrap,
        [_candidate(run, 0), _candidate(run, 1), _candidate(run, 3, contact=contact), _vacancy(run)],
    )
    settings = _settings(kafka_bootstrap, fresh_database, f"snap-{run}", snapshot_dir=folder)
    async with _service(settings) as first:
        assert not first.reader.restored_from_snapshot
        assert first.state.candidates.version_of(ids[0]) is not None
    written = snapshot.location(folder) / snapshot.FILE_NAME
    assert written.exists(), "written at the clean stop"
    assert (_mode(written), _mode(written.parent)) == (0o600, 0o700), "readable by the service's user only"
    assert _traces(folder, ids[0]), "the person is in it before the erasure"
    assert _traces(folder, f"zelie.{run}", "Zélie", "+33612345678") == [], "no contact ever"

    # While it was stopped: one candidate erased (tombstone), one registered, the vacancy closed.
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(Topic.CANDIDATES, key=ids[0].encode(), value=None)
    finally:
        await producer.stop()
    await _publish(
        kafka_bootstrap,
        [_candidate(run, 2), _vacancy(run, event=ev.VacancyClosed, status="closed", version=2)],
    )

    async with _service(settings) as restored:
        assert restored.reader.restored_from_snapshot
        assert list(written.parent.iterdir()) == [], "taken at start: no copy on disk while the service runs"
        # While it runs: another one withdraws.
        gone = p.CandidateWithdrawn(candidate_id=ids[3], erasure_requested=True)
        await _publish(kafka_bootstrap, [ev.CandidateWithdrawn.build(gone, source=SOURCE)])
        await restored.reader.caught_up()
        candidates = {c: restored.state.candidates.version_of(c) for c in ids}
        vacancy = restored.state.offers.get((OfferSource.VACANCY, f"vac-{run}-1"))
        sizes = (len(restored.state.candidates), len(restored.state.offers))
    assert candidates[ids[0]] is None and candidates[ids[1]] == 1 and candidates[ids[2]] == 1
    assert candidates[ids[3]] is None
    assert vacancy is not None and not vacancy.open
    assert written.exists() and _mode(written) == 0o600
    erased = [stable_hash(c).to_bytes(8, "little", signed=True) for c in (ids[0], ids[3])]
    assert _traces(folder, ids[0], ids[3], *erased) == [], "erased people are in no file of the folder"
    assert _traces(folder, ids[1], ids[2])

    rebuilt_settings = _settings(kafka_bootstrap, fresh_database, f"snap-full-{run}")
    async with _service(rebuilt_settings) as rebuilt:
        assert not rebuilt.reader.restored_from_snapshot
        assert (len(rebuilt.state.candidates), len(rebuilt.state.offers)) == sizes


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _traces(folder: Path, *needles: str | bytes) -> list[tuple[str, str | bytes]]:
    """Every (file, needle) such that the needle is in the file, over every file of the folder."""
    return [
        (path.name, needle)
        for path in folder.rglob("*")
        if path.is_file()
        for needle in needles
        if (needle.encode() if isinstance(needle, str) else needle) in path.read_bytes()
    ]


async def _matches_of_an_offer_posted_after(
    bootstrap: str, dsn: str, run: str, candidates: list[ev.CandidateRegistered]
) -> MatchesTopic:
    """The candidates published, the service started, then one vacancy posted: the matches read."""
    await _publish(bootstrap, list(candidates))
    async with (
        _service(_settings(bootstrap, dsn, f"matching-{run}")),
        MatchesTopic(bootstrap, run) as matches,
    ):
        await _publish(bootstrap, [_vacancy(run)])
        await matches.wait_for(lambda events: len(_found(events)) >= 1)
        await matches.settle()
    return matches


async def test_offer_posted_emits_matches_to_candidates_in_reach(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    run = _run()
    near = _candidate(run, 1)
    far = _candidate(run, 2, home_commune_insee=MONT_DE_MARSAN)
    matches = await _matches_of_an_offer_posted_after(kafka_bootstrap, fresh_database, run, [near, far])
    (found,) = matches.of_type("found")
    data = found["data"]
    assert data["candidate_id"] == near.data.id
    assert data["offer_id"] == f"vac-{run}-1"
    assert data["match_id"] == f"vac.vac-{run}-1.v1.{near.data.id}"
    assert data["reasons"][0] == "À 29 km de chez vous"
    assert "Diplôme d'État d'aide-soignant requis : vous l'avez" in data["reasons"]
    assert 0 < data["score"] <= 100


async def test_candidate_registered_is_matched_with_open_offers(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    run = _run()
    # In a town no other test uses: their open offers near Bourg-en-Bresse would fill the
    # candidate's top 10 (ties on score) before this test's offer.
    here = {"commune_insee": AURILLAC}
    await _publish(kafka_bootstrap, [_vacancy(run, 1, **here), _vacancy(run, 2, status="closed", **here)])
    async with (
        _service(_settings(kafka_bootstrap, fresh_database, f"matching-{run}")),
        MatchesTopic(kafka_bootstrap, run) as matches,
    ):
        await matches.settle(1.0)
        await _publish(kafka_bootstrap, [_candidate(run, 1, home_commune_insee=AURILLAC)])
        await matches.wait_for(lambda events: len(_found(events)) >= 1)
        await matches.settle()
    assert [e["data"]["offer_id"] for e in matches.of_type("found")] == [f"vac-{run}-1"]


async def test_a_candidate_published_under_a_service_source_is_never_matched(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    run = _run()
    genuine = _candidate(run, 1)
    forged = _candidate(run, 2).model_copy(update={"source": "urn:vocation:catalogue"})
    matches = await _matches_of_an_offer_posted_after(kafka_bootstrap, fresh_database, run, [genuine, forged])
    assert [e["data"]["candidate_id"] for e in _found(matches.events)] == [genuine.data.id]


async def test_offer_closed_withdraws_its_matches(kafka_bootstrap: str, fresh_database: str) -> None:
    run = _run()
    await _publish(kafka_bootstrap, [_candidate(run, 1), _candidate(run, 2)])
    async with (
        _service(_settings(kafka_bootstrap, fresh_database, f"matching-{run}")),
        MatchesTopic(kafka_bootstrap, run) as matches,
    ):
        await _publish(kafka_bootstrap, [_vacancy(run)])
        await matches.wait_for(lambda events: len(_found(events)) == 2)
        await _publish(
            kafka_bootstrap,
            [_vacancy(run, event=ev.VacancyClosed, status="filled", posts_filled=2, version=2)],
        )
        await matches.wait_for(lambda events: len(matches.of_type("withdrawn")) == 2)
        await matches.settle()
    withdrawn = matches.of_type("withdrawn")
    assert {e["data"]["match_id"] for e in withdrawn} == {
        e["data"]["match_id"] for e in matches.of_type("found")
    }
    assert {e["data"]["reason"] for e in withdrawn} == {"offer_filled"}


async def test_candidate_withdrawn_withdraws_their_matches(kafka_bootstrap: str, fresh_database: str) -> None:
    run = _run()
    candidate = _candidate(run, 1)
    await _publish(kafka_bootstrap, [candidate, _vacancy(run, 1), _vacancy(run, 2)])
    async with (
        _service(_settings(kafka_bootstrap, fresh_database, f"matching-{run}")),
        MatchesTopic(kafka_bootstrap, run) as matches,
    ):
        await matches.wait_for(lambda events: len(_found(events)) == 2)
        gone = p.CandidateWithdrawn(candidate_id=candidate.data.id, erasure_requested=False)
        await _publish(kafka_bootstrap, [ev.CandidateWithdrawn.build(gone, source=SOURCE)])
        await matches.wait_for(lambda events: len(matches.of_type("withdrawn")) == 2)
    assert {e["data"]["reason"] for e in matches.of_type("withdrawn")} == {"candidate_withdrawn"}


async def test_an_erasure_withdraws_the_matches_then_writes_a_tombstone_of_the_candidate(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    run = _run()
    candidate = _candidate(run, 1)
    await _publish(kafka_bootstrap, [candidate, _vacancy(run, 1), _vacancy(run, 2)])
    async with (
        _service(_settings(kafka_bootstrap, fresh_database, f"matching-{run}")) as service,
        MatchesTopic(kafka_bootstrap, run) as matches,
    ):
        await matches.wait_for(lambda events: len(_found(events)) == 2)
        gone = p.CandidateWithdrawn(candidate_id=candidate.data.id, erasure_requested=True)
        await _publish(kafka_bootstrap, [ev.CandidateWithdrawn.build(gone, source=SOURCE)])
        await matches.wait_for(lambda _: (candidate.data.id, "tombstone") in matches.order)
        # The events are acknowledged before the ledger's transaction commits (publish, then
        # commit): the rows go an instant after the tombstone is on the topic.
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            left = await service.pool.fetchval(
                "SELECT count(*) FROM emitted_matches WHERE candidate_id = $1", candidate.data.id
            )
            if left == 0 or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
    kinds = [
        kind.split(".")[-2] if "." in kind else kind
        for key, kind in matches.order
        if key == candidate.data.id
    ]
    # Same key, same partition: compaction of the tombstone removes every match event before it.
    assert kinds == ["found", "found", "withdrawn", "withdrawn", "tombstone"]
    assert left == 0


async def test_duplicate_and_replayed_events_emit_no_duplicate_match(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    run = _run()
    vacancy = _vacancy(run)
    await _publish(kafka_bootstrap, [_candidate(run, 1), _candidate(run, 2)])
    settings = _settings(kafka_bootstrap, fresh_database, f"matching-{run}")
    async with MatchesTopic(kafka_bootstrap, run) as matches:
        async with _service(settings):
            await _publish(kafka_bootstrap, [vacancy, vacancy])
            await matches.wait_for(lambda events: len(_found(events)) >= 2)
            await matches.settle()
        # A new group replays every event from the beginning, against the same ledger.
        replay = _settings(kafka_bootstrap, fresh_database, f"matching-{run}-replay")
        async with _service(replay):
            await _publish(kafka_bootstrap, [vacancy])
            await matches.settle(3.0)
    found = matches.of_type("found")
    assert len(found) == 2
    assert len({e["data"]["match_id"] for e in found}) == 2


async def test_immaterial_offer_update_emits_nothing_new_but_a_material_one_does(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    run = _run()
    await _publish(kafka_bootstrap, [_candidate(run, 1)])
    async with (
        _service(_settings(kafka_bootstrap, fresh_database, f"matching-{run}")),
        MatchesTopic(kafka_bootstrap, run) as matches,
    ):
        await _publish(kafka_bootstrap, [_vacancy(run)])
        await matches.wait_for(lambda events: len(_found(events)) == 1)
        await _publish(
            kafka_bootstrap, [_vacancy(run, event=ev.VacancyUpdated, version=2, title="Aide-soignant H/F")]
        )
        await matches.settle(2.0)
        assert len(matches.of_type("found")) == 1
        await _publish(
            kafka_bootstrap, [_vacancy(run, event=ev.VacancyUpdated, version=3, housing_offered=False)]
        )
        await matches.wait_for(lambda events: len(_found(events)) == 2)
    assert [e["data"]["offer_version"] for e in matches.of_type("found")] == [1, 3]


async def test_offer_changed_so_a_candidate_no_longer_fits_withdraws_that_match(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    run = _run()
    await _publish(kafka_bootstrap, [_candidate(run, 1), _candidate(run, 2, driving_licence=False)])
    async with (
        _service(_settings(kafka_bootstrap, fresh_database, f"matching-{run}")),
        MatchesTopic(kafka_bootstrap, run) as matches,
    ):
        await _publish(kafka_bootstrap, [_vacancy(run)])
        await matches.wait_for(lambda events: len(_found(events)) == 2)
        changed = _vacancy(run, event=ev.VacancyUpdated, version=2, driving_licence_required=True)
        await _publish(kafka_bootstrap, [changed])
        await matches.wait_for(lambda events: len(matches.of_type("withdrawn")) == 1)
    (withdrawn,) = matches.of_type("withdrawn")
    assert withdrawn["data"]["candidate_id"] == f"cand-{run}-2"
    assert withdrawn["data"]["reason"] == "offer_changed"


async def test_candidate_changed_so_an_offer_no_longer_fits_withdraws_that_match(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    run = _run()
    await _publish(kafka_bootstrap, [_candidate(run, 1)])
    async with (
        _service(_settings(kafka_bootstrap, fresh_database, f"matching-{run}")),
        MatchesTopic(kafka_bootstrap, run) as matches,
    ):
        await _publish(kafka_bootstrap, [_vacancy(run, 1), _vacancy(run, 2, schedule={"night": False})])
        await matches.wait_for(lambda events: len(_found(events)) == 2)
        profile = p.CandidateProfile.model_validate(
            samples.candidate(id=f"cand-{run}-1", accepts_night=False, version=2)
        )
        await _publish(kafka_bootstrap, [ev.CandidateUpdated.build(profile, source=SOURCE)])
        await matches.wait_for(lambda events: len(matches.of_type("withdrawn")) == 1)
        await matches.settle(1.0)
    (withdrawn,) = matches.of_type("withdrawn")
    assert withdrawn["data"]["offer_id"] == f"vac-{run}-1"
    assert withdrawn["data"]["reason"] == "candidate_changed"


async def test_daily_cap_per_candidate_limits_the_matches_emitted(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    run = _run()
    # Far from the other tests' offers (Bourg-en-Bresse), which would count towards the cap.
    await _publish(kafka_bootstrap, [_candidate(run, 1, home_commune_insee=MONT_DE_MARSAN)])
    settings = _settings(kafka_bootstrap, fresh_database, f"matching-{run}", daily_cap_per_candidate=2)
    async with _service(settings), MatchesTopic(kafka_bootstrap, run) as matches:
        await _publish(kafka_bootstrap, [_vacancy(run, n, commune_insee=MONT_DE_MARSAN) for n in range(4)])
        await matches.wait_for(lambda events: len(_found(events)) >= 2)
        await matches.settle(2.0)
    assert len(matches.of_type("found")) == 2


async def test_health_endpoints_report_ready_and_metrics(kafka_bootstrap: str, fresh_database: str) -> None:
    run = _run()
    async with _service(_settings(kafka_bootstrap, fresh_database, f"matching-{run}")) as service:
        metrics = await live_ready_metrics(service.http)
    assert "vocation_matching_candidates_indexed" in metrics
    assert "vocation_matching_match_seconds" in metrics


@pytest.mark.slow
async def test_two_instances_in_one_group_share_the_work_and_emit_each_match_once(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    run = _run()
    candidates = [_candidate(run, n) for n in range(6)]
    await _publish(kafka_bootstrap, candidates)
    group = f"matching-{run}"
    # The candidates group starts from offset 0: each of these candidates is also matched with the
    # open offers of the earlier tests of the session (same places, same métier), which count
    # towards the daily cap per candidate (20 by default). 6 × 12 matches are expected here only
    # if that cap cannot bite, so it is raised; the cap has its own test above.
    settings = _settings(kafka_bootstrap, fresh_database, group, daily_cap_per_candidate=1000)
    async with (
        MatchesTopic(kafka_bootstrap, run) as matches,
        _service(settings) as one,
        _service(settings) as two,
    ):
        await _wait_for_shared_assignment(one, two, "vacancies")
        vacancies = [_vacancy(run, n) for n in range(12)]
        await _publish(kafka_bootstrap, vacancies)
        await matches.wait_for(lambda events: len(_found(events)) >= 6 * 12, timeout=60)
        await matches.settle(2.0)
        emitted = [
            sum(sample.value for sample in metric.samples if sample.name.endswith("_total"))
            for service in (one, two)
            for metric in service.metrics.emitted_total.collect()
        ]
    found = matches.of_type("found")
    assert len(found) == 6 * 12
    assert len({e["data"]["match_id"] for e in found}) == 6 * 12
    conn = await asyncpg.connect(fresh_database)
    try:
        recorded = await conn.fetchval(
            "SELECT count(*) FROM emitted_matches WHERE offer_id LIKE $1 AND candidate_id LIKE $2",
            f"vac-{run}-%",
            f"cand-{run}-%",
        )
    finally:
        await conn.close()
    assert recorded == 6 * 12
    assert sum(emitted) >= 6 * 12
    assert all(n > 0 for n in emitted), f"one instance did nothing: {emitted}"


@pytest.mark.slow
async def test_python_dash_m_serves_health_and_becomes_ready(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = service_environment(
        kafka_bootstrap, fresh_database, port, VOCATION_CONSUMER_GROUP=f"matching-main-{_run()}"
    )
    child = start_service("vocation_matching", env)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if (await client.get("/health/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "not ready in time"
                await asyncio.sleep(0.2)
            assert (await client.get("/health/live")).json() == {"status": "alive"}
            assert "vocation_matching_ready 1.0" in (await client.get("/metrics")).text
    finally:
        child.terminate()
        child.wait(timeout=30)


# --- what the `applications` topic teaches: refusals and hires --------------------------------

CATALOGUE = Service.CATALOGUE.source  # match.declined and application.answered are the catalogue's facts


def _declined(candidate: ev.CandidateRegistered, offer_id: str, reason: str | None) -> AnyEvent:
    data = p.MatchDeclined(
        application_id=p.application_id_of(candidate.data.id, offer_id),
        candidate_id=candidate.data.id,
        offer_id=offer_id,
        offer_kind="vacancy",
        reason=reason,
        declined_at=datetime(2026, 11, 22, tzinfo=UTC),
    )
    return ev.MatchDeclined.build(data, source=CATALOGUE)


def _hired(candidate: ev.CandidateRegistered, offer_id: str) -> AnyEvent:
    data = p.ApplicationAnswered(
        application_id=p.application_id_of(candidate.data.id, offer_id),
        candidate_id=candidate.data.id,
        offer_id=offer_id,
        answer="hired",
        answered_at=datetime(2026, 11, 22, tzinfo=UTC),
    )
    return ev.ApplicationAnswered.build(data, source=CATALOGUE)


async def _until_kept(service: MatchingService, query: str, *args: object) -> None:
    """Until the service's database answers a count ≥ 1 (what a consumer kept)."""
    deadline = time.monotonic() + 30
    while not await service.pool.fetchval(query, *args):
        assert time.monotonic() < deadline, f"not kept in time: {query}"
        await asyncio.sleep(0.1)


async def test_a_declined_offer_is_not_proposed_again_once_updated_nor_after_a_restart(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    run = _run()
    one, two = _candidate(run, 1), _candidate(run, 2)
    offer_id = f"vac-{run}-1"
    await _publish(kafka_bootstrap, [one, two, _vacancy(run)])
    settings = _settings(kafka_bootstrap, fresh_database, f"matching-{run}")
    async with _service(settings) as service, MatchesTopic(kafka_bootstrap, run) as matches:
        await matches.wait_for(lambda events: len(_found(events)) == 2)
        await _publish(kafka_bootstrap, [_declined(one, offer_id, None)])
        await _until_kept(service, "SELECT count(*) FROM match_declines WHERE candidate_id = $1", one.data.id)
        update = _vacancy(run, event=ev.VacancyUpdated, version=2, housing_offered=False)
        await _publish(kafka_bootstrap, [update])
        await matches.wait_for(lambda events: len(_found(events)) == 3)
        await matches.settle()
    assert matches.of_type("withdrawn") == []  # the refused match is not withdrawn by the update
    pairs = sorted((e["data"]["candidate_id"], e["data"]["offer_version"]) for e in _found(matches.events))
    assert pairs == [(one.data.id, 1), (two.data.id, 1), (two.data.id, 2)]

    # Restarted in a new group that starts at the end of `applications`: only what PostgreSQL kept
    # can stop a new version for the first candidate.
    again = _settings(kafka_bootstrap, fresh_database, f"matching-{run}-again")
    await start_groups_at_end(
        kafka_bootstrap, {f"{again.consumer_group}.{Topic.APPLICATIONS}": Topic.APPLICATIONS}
    )
    async with _service(again) as restarted, MatchesTopic(kafka_bootstrap, run) as later:
        assert restarted.state.lessons[one.data.id]
        await _publish(
            kafka_bootstrap,
            [_vacancy(run, event=ev.VacancyUpdated, version=3, driving_licence_required=True)],
        )
        await later.wait_for(lambda events: any(e["data"]["offer_version"] == 3 for e in _found(events)))
        await later.settle()
    assert [e["data"]["candidate_id"] for e in _found(later.events) if e["data"]["offer_version"] > 1] == [
        two.data.id,
        two.data.id,
    ]


async def test_too_far_then_a_farther_offer_is_not_proposed_and_a_nearer_one_is(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    run = _run()
    person = _candidate(run, 1)  # Ambérieu-en-Bugey, 40 km
    middle = {"lat": 46.15, "lon": 5.28}  # ~22 km
    far = {"lat": 46.25, "lon": 5.25}  # ~34 km
    near = {"lat": 46.03, "lon": 5.33}  # ~8 km
    await _publish(kafka_bootstrap, [person, _vacancy(run, 1, position=middle)])
    async with (
        _service(_settings(kafka_bootstrap, fresh_database, f"matching-{run}")) as service,
        MatchesTopic(kafka_bootstrap, run) as matches,
    ):
        await matches.wait_for(lambda events: len(_found(events)) == 1)
        await _publish(kafka_bootstrap, [_declined(person, f"vac-{run}-1", "too_far")])
        await _until_kept(
            service, "SELECT count(*) FROM match_declines WHERE candidate_id = $1", person.data.id
        )
        await _publish(kafka_bootstrap, [_vacancy(run, 2, position=far), _vacancy(run, 3, position=near)])
        await matches.wait_for(lambda events: len(_found(events)) == 2)
        await matches.settle()
    found = _found(matches.events)
    assert [e["data"]["offer_id"] for e in found] == [f"vac-{run}-1", f"vac-{run}-3"]
    assert "Plus proche de chez vous, comme vous l'avez demandé" in found[1]["data"]["reasons"]


async def test_a_hire_filling_the_last_post_withdraws_the_other_matches(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    run = _run()
    people = [_candidate(run, n) for n in (1, 2, 3)]
    offer_id = f"vac-{run}-1"
    await _publish(kafka_bootstrap, [*people, _vacancy(run, posts=1)])
    async with (
        _service(_settings(kafka_bootstrap, fresh_database, f"matching-{run}")) as service,
        MatchesTopic(kafka_bootstrap, run) as matches,
    ):
        await matches.wait_for(lambda events: len(_found(events)) == 3)
        await _publish(kafka_bootstrap, [_hired(people[0], offer_id), _hired(people[0], offer_id)])
        await matches.wait_for(lambda events: len(matches.of_type("withdrawn")) == 2)
        await matches.settle()
        hires = await service.pool.fetchval(
            "SELECT count(*) FROM platform_hires WHERE vacancy_id = $1", offer_id
        )
        vacancy = service.state.offers.get((OfferSource.VACANCY, offer_id))
    withdrawn = matches.of_type("withdrawn")
    assert sorted(e["data"]["candidate_id"] for e in withdrawn) == [people[1].data.id, people[2].data.id]
    assert {e["data"]["reason"] for e in withdrawn} == {"offer_filled"}
    assert hires == 1
    assert vacancy is not None and vacancy.filled and not vacancy.open
