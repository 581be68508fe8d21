"""Matching benchmark: index 100,000 and 1,000,000 realistic candidates, match new offers, compare with brute force.

Run: `.venv/bin/python benchmarks/matching.py` (or `main()` from `make bench`). Populations are
drawn from the real communes weighted by population, the sector's priority métiers, plausible
radii, diplomas, ages and apprentices' schools. Bars (DESIGN.md): 1,000,000 candidates in
≤ 1.5 GB RSS; one new offer matched in p99 ≤ 10 ms in process; identical to brute force.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import time
from collections.abc import Iterator
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from vocation_matching.core.index import CandidateIndex
from vocation_matching.core.model import Candidate, Match, Offer, OfferSource, close_metiers, commune_position
from vocation_matching.core.ranking import brute_force_for_offer
from vocation_shared.contracts.vocabulary import (
    CandidateKind,
    ContractType,
    LifeExperience,
    OfferKind,
    WorkingTime,
)
from vocation_shared.reference import DIPLOMAS, PRIORITY_METIERS, communes, diploma_for_metier, preload

if TYPE_CHECKING:
    from benchmarks.infra import BenchInfra

TODAY = date(2026, 11, 22)
TOP_N = 50
MIN_SCORE = 40
METIER_WEIGHTS = {
    "J1501": 25,
    "K1306": 15,
    "J1301": 12,
    "K1311": 12,
    "J1506": 10,
    "J1304": 6,
    "K1207": 5,
    "K1208": 4,
    "K1202": 4,
    "K1201": 3,
    "K1305": 2,
    "K1309": 2,
}
RADII = np.array([5, 10, 15, 20, 30, 40, 50, 80, 100, 150], dtype=np.float64)
RADIUS_WEIGHTS = np.array([6, 12, 14, 18, 18, 12, 10, 5, 3, 2], dtype=np.float64)
KINDS = list(CandidateKind)
# Job seekers, people in reconversion, students, apprentices, replacement staff.
KIND_WEIGHTS = np.array([55, 20, 5, 10, 10], dtype=np.float64)


def rss_mb() -> float:
    """Resident set size of this process, in MB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Population:
    """Draws candidates and offers where people live (communes weighted by population)."""

    def __init__(self, seed: int = 2026) -> None:
        rows = [
            c for c in communes().all() if commune_position(c.insee) is not None and (c.population or 0) > 0
        ]
        self.insee = [c.insee for c in rows]
        self.lat = np.array([c.latitude for c in rows], dtype=np.float64)
        self.lon = np.array([c.longitude for c in rows], dtype=np.float64)
        weights = np.array([c.population for c in rows], dtype=np.float64)
        self.cumulative = np.cumsum(weights / weights.sum())
        self.metiers = list(METIER_WEIGHTS)
        w = np.array(list(METIER_WEIGHTS.values()), dtype=np.float64)
        self.metier_p = w / w.sum()
        self.rng = np.random.default_rng(seed)
        self.names = {m.code: m.name for m in PRIORITY_METIERS}

    def _communes(self, n: int) -> np.ndarray:
        return np.minimum(np.searchsorted(self.cumulative, self.rng.random(n)), len(self.insee) - 1)

    def candidates(self, n: int, chunk: int = 50_000) -> Iterator[Candidate]:
        """`n` candidates, drawn in vectorised chunks and yielded one by one (nothing kept)."""
        made = 0
        rng = self.rng
        contracts_all = list(ContractType)
        while made < n:
            size = min(chunk, n - made)
            where = self._communes(size)
            jitter_lat = rng.normal(0, 0.02, size)
            jitter_lon = rng.normal(0, 0.03, size)
            first = rng.choice(len(self.metiers), size=size, p=self.metier_p)
            extra = rng.random(size)
            radius = rng.choice(RADII, size=size, p=RADIUS_WEIGHTS / RADIUS_WEIGHTS.sum())
            kinds = rng.choice(len(KINDS), size=size, p=KIND_WEIGHTS / KIND_WEIGHTS.sum())
            uniform = rng.random((size, 12))
            months = rng.integers(0, 120, size)
            avail = rng.integers(-60, 60, size)
            age = rng.integers(18, 62, size)
            for i in range(size):
                kind = KINDS[kinds[i]]
                rome = self.metiers[first[i]]
                wanted = [rome]
                if extra[i] < 0.35:
                    other = self.metiers[rng.choice(len(self.metiers), p=self.metier_p)]
                    if other != rome:
                        wanted.append(other)
                diploma = diploma_for_metier(rome)
                u = uniform[i]
                diplomas = []
                if diploma is not None and u[0] < (0.15 if kind is CandidateKind.RECONVERSION else 0.6):
                    diplomas.append(diploma)
                apprentice = kind is CandidateKind.APPRENTICE
                lat = float(self.lat[where[i]] + jitter_lat[i])
                lon = float(self.lon[where[i]] + jitter_lon[i])
                if apprentice:
                    contracts = frozenset({ContractType.APPRENTISSAGE})
                elif kind is CandidateKind.REPLACEMENT_STAFF:
                    contracts = frozenset({ContractType.REMPLACEMENT, ContractType.CDD})
                else:
                    contracts = frozenset(
                        c
                        for c, x in zip(contracts_all, u[1:7], strict=True)
                        if x < (0.8 if c in (ContractType.CDI, ContractType.CDD) else 0.2)
                    ) or frozenset({ContractType.CDI})
                yield Candidate(
                    id=f"c{made + i:07d}",
                    version=1,
                    kind=kind,
                    wanted=tuple(wanted),
                    accepts_close=bool(u[7] < 0.4),
                    diplomas=frozenset(diplomas),
                    experience=((rome, int(months[i])),) if u[8] < 0.6 and not apprentice else (),
                    life_experience=frozenset({LifeExperience.CARING_FOR_RELATIVE})
                    if u[9] < 0.15
                    else frozenset(),
                    wants_immersion=bool(u[10] < 0.25),
                    position=(lat, lon),
                    radius_km=float(radius[i]),
                    driving_licence=bool(u[11] < 0.75),
                    available_from=TODAY + timedelta(days=int(avail[i])),
                    contract_types=contracts,
                    working_times=frozenset({WorkingTime.FULL_TIME, WorkingTime.PART_TIME})
                    if u[2] < 0.5
                    else frozenset({WorkingTime.FULL_TIME}),
                    accepts_night=bool(u[3] < 0.45),
                    accepts_weekend=bool(u[4] < 0.7),
                    needs_housing=bool(u[5] < 0.08),
                    birth_year=TODAY.year - (int(age[i]) if not apprentice else 16 + int(age[i]) % 10),
                    recognised_disability=bool(u[6] < 0.06),
                    school_position=(lat + 0.05, lon - 0.05) if apprentice else None,
                    school_radius_km=30.0 if apprentice else None,
                    diploma_prepared=diploma if apprentice else None,
                )
            made += size

    def offers(self, n: int) -> list[Offer]:
        """`n` open vacancies (a tenth of them apprenticeships) where people live."""
        rng = self.rng
        found = []
        where = self._communes(n)
        for k in range(n):
            rome = self.metiers[rng.choice(len(self.metiers), p=self.metier_p)]
            apprenticeship = rng.random() < 0.1
            contract = (
                ContractType.APPRENTISSAGE
                if apprenticeship
                else [ContractType.CDI, ContractType.CDD, ContractType.REMPLACEMENT][rng.integers(0, 3)]
            )
            diploma = diploma_for_metier(rome)
            found.append(
                Offer(
                    source=OfferSource.VACANCY,
                    id=f"v{k:05d}",
                    version=1,
                    kind=OfferKind.APPRENTICESHIP if apprenticeship else OfferKind.VACANCY,
                    title=self.names.get(rome, rome),
                    rome=rome,
                    commune_insee=self.insee[where[k]],
                    position=(float(self.lat[where[k]]), float(self.lon[where[k]])),
                    start_date=TODAY + timedelta(days=int(rng.integers(0, 45))),
                    end_date=None if contract is ContractType.CDI else TODAY + timedelta(days=200),
                    contract_type=contract,
                    working_time=WorkingTime.FULL_TIME if rng.random() < 0.7 else WorkingTime.PART_TIME,
                    night=bool(rng.random() < 0.2),
                    weekend=bool(rng.random() < 0.5),
                    required_diploma=diploma
                    if diploma is not None and DIPLOMAS[diploma].required_to_practise
                    else None,
                    driving_licence_required=bool(rome in ("K1311", "K1306") and rng.random() < 0.5),
                    housing_offered=bool(rng.random() < 0.05),
                )
            )
        return found


def _summary(matches: list[Match]) -> list[tuple[object, ...]]:
    return [(m.candidate_id, m.score, m.distance_km) for m in matches]


def run_size(
    size: int, offers: int = 300, brute_offers: int = 20, reference_offers: int = 0
) -> dict[str, object]:
    """Index `size` candidates, match `offers` new offers; brute force on a few of them."""
    population = Population(seed=size)
    gc.collect()
    before = rss_mb()
    index = CandidateIndex()
    started = time.perf_counter()
    for candidate in population.candidates(size):
        index.upsert(candidate)
    build_s = time.perf_counter() - started
    gc.collect()
    after = rss_mb()
    sample = population.offers(offers)
    # The plain-Python reference needs the candidates as objects: drawn again, after the RSS reading.
    kept = list(Population(seed=size).candidates(size)) if reference_offers else []
    for offer in sample[:5]:  # warm-up
        index.match_offer(offer, TODAY, TOP_N, MIN_SCORE)
    latencies = []
    found = []
    for offer in sample:
        t0 = time.perf_counter()
        matches = index.match_offer(offer, TODAY, TOP_N, MIN_SCORE)
        latencies.append((time.perf_counter() - t0) * 1000)
        found.append(len(matches))
    brute = []
    identical = True
    for offer in sample[:brute_offers]:
        t0 = time.perf_counter()
        expected = index.match_offer(offer, TODAY, TOP_N, MIN_SCORE, brute_force=True)
        brute.append((time.perf_counter() - t0) * 1000)
        identical &= _summary(expected) == _summary(index.match_offer(offer, TODAY, TOP_N, MIN_SCORE))
    reference = []
    for offer in sample[:reference_offers]:
        t0 = time.perf_counter()
        expected = brute_force_for_offer(offer, kept, TODAY, TOP_N, MIN_SCORE)
        reference.append((time.perf_counter() - t0) * 1000)
        identical &= _summary(expected) == _summary(index.match_offer(offer, TODAY, TOP_N, MIN_SCORE))
    latencies.sort()
    result: dict[str, object] = {
        "candidates": len(index),
        "postings": index.postings_count(),
        "build_s": round(build_s, 1),
        "rss_total_mb": round(after, 1),
        "rss_index_mb": round(after - before, 1),
        "offers_matched": len(latencies),
        "match_p50_ms": round(statistics.median(latencies), 3),
        "match_p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 3),
        "match_max_ms": round(latencies[-1], 3),
        "matches_per_offer_mean": round(statistics.mean(found), 1),
        "brute_force_numpy_p50_ms": round(statistics.median(brute), 2) if brute else None,
        "identical_to_brute_force": identical,
    }
    if reference:
        result["brute_force_python_p50_ms"] = round(statistics.median(reference), 1)
    del kept
    return result


def main() -> dict[str, object]:
    """Both sizes, in one run; returns the figures."""
    preload()
    close_metiers("J1501")
    sizes = [
        int(s) for s in os.environ.get("VOCATION_BENCH_MATCHING_SIZES", "100000,1000000").split(",") if s
    ]
    results: dict[str, object] = {"today": TODAY.isoformat(), "top_n": TOP_N, "min_score": MIN_SCORE}
    for size in sizes:
        results[f"{size:_}"] = run_size(size, reference_offers=3 if size <= 100_000 else 0)
        gc.collect()
    if os.environ.get("VOCATION_BENCH_MATCHING_KAFKA", "1") == "1":
        import asyncio

        from benchmarks.infra import bench_infra

        with bench_infra() as infra:
            results["through_kafka"] = asyncio.run(_through_kafka(infra, 20_000, 1_000))
            if os.environ.get("VOCATION_BENCH_MATCHING_PROCESSES", "1") == "1":
                results["through_kafka_processes"] = asyncio.run(_through_kafka_processes(infra, 1_000))
    return results


# --- through Kafka (on by default; VOCATION_BENCH_MATCHING_KAFKA=0 skips it) --------------


async def _through_kafka(infra: BenchInfra, candidates: int, offers: int) -> dict[str, object]:
    """Candidates on the topic, the service started, then `offers` vacancies published at once:
    offers per second from the first publish until every offer has been reacted to."""
    import asyncio
    import uuid
    from datetime import UTC, datetime

    from vocation_local.pg_admin import create_database
    from vocation_matching.adapters.match_events import encode_match_found
    from vocation_matching.adapters.publishing import KafkaBatchPublisher
    from vocation_matching.app import LocalClock, running_service
    from vocation_matching.core.state import offer_of
    from vocation_matching.settings import MatchingSettings
    from vocation_shared.contracts import events as ev
    from vocation_shared.contracts import payloads as p
    from vocation_shared.kafka import EventPublisher, make_broker
    from vocation_shared.logs import configure_logging
    from vocation_shared.testing import samples

    configure_logging("matching-bench", "WARNING")
    population = Population(seed=11)
    run = uuid.uuid4().hex[:6]
    dsn = await create_database(infra.postgres_url, f"matching_bench_{run}")
    broker = make_broker(infra.kafka_bootstrap, client_id="matching-bench")
    await broker.connect()
    publisher = EventPublisher(broker)
    where = population._communes(candidates)
    batch = []
    for n in range(candidates):
        rome = population.metiers[n % len(population.metiers)]
        diploma = diploma_for_metier(rome)
        data = samples.candidate(
            id=f"bc-{run}-{n}",
            wanted_rome_codes=[rome],
            diplomas=[diploma] if diploma is not None else [],
            experience=[],
            home_commune_insee=population.insee[where[n]],
            mobility_radius_km=float(RADII[n % len(RADII)]),
            contract_types=["cdi", "cdd", "remplacement"],
            working_times=["full_time", "part_time"],
        )
        profile = p.CandidateRegistration.model_validate(data)
        batch.append(ev.CandidateRegistered.build(profile, source="urn:bench"))
        if len(batch) == 1000:
            await publisher.publish_many(batch)
            batch = []
    await publisher.publish_many(batch)
    settings = MatchingSettings(
        kafka_bootstrap=infra.kafka_bootstrap, database_url=dsn, consumer_group=f"matching-bench-{run}"
    )
    async with running_service(settings) as service:
        started = time.perf_counter()
        await asyncio.wait_for(service.wait_ready(), 600)
        rebuild_s = time.perf_counter() - started
        vacancies = _vacancy_events(population, run, offers)

        def reacted(direction: str) -> float:
            """Events handled to the end: their matches recorded, published and acknowledged."""
            return _total(service.metrics.reacted_total, direction=direction)

        def emitted_total() -> float:
            return _total(service.metrics.emitted_total)

        # A new group first replays the candidates topic (each candidate against the open offers):
        # a start-up cost, timed on its own before the offers are published.
        started = time.perf_counter()
        while reacted("candidate") < candidates and time.perf_counter() - started < 600:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        replay_s = time.perf_counter() - started
        emitted_before = emitted_total()
        cpu_started = time.process_time()
        profiler = _OffersProfile()
        await profiler.start()
        started = time.perf_counter()
        await publisher.publish_many(vacancies)
        published_s = time.perf_counter() - started
        while reacted("offer") < offers and time.perf_counter() - started < 600:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        offers_cpu_s = time.process_time() - cpu_started
        await profiler.stop()
        emitted = emitted_total() - emitted_before
        # Peers, in the same run: the core alone on the same state and offers, and a raw producer
        # sending as many match events (acks=all, the service's batching) without PostgreSQL.
        today = LocalClock(settings.timezone).today()
        core_offers = [offer_of(v) for v in vacancies]
        started = time.perf_counter()
        cpu_started = time.process_time()
        found = [
            service.state.candidates.match_offer(o, today, settings.top_per_offer, settings.min_score)
            for o in core_offers
            if o is not None
        ]
        core_s = time.perf_counter() - started
        core_cpu_s = time.process_time() - cpu_started
        now = datetime.now(UTC)
        records = list(encode_match_found([m for ms in found for m in ms], "urn:bench", now))[: int(emitted)]
        raw = KafkaBatchPublisher(
            infra.kafka_bootstrap,
            client_id="matching-bench-raw",
            max_batch_size=settings.producer_batch_bytes,
        )
        await raw.start()
        try:
            started = time.perf_counter()
            for k in range(0, len(records), 8000):
                await raw.publish(records[k : k + 8000])
            raw_s = time.perf_counter() - started
        finally:
            await raw.stop()
    await broker.stop()
    return {
        "candidates": candidates,
        "offers": offers,
        "rebuild_s": round(rebuild_s, 1),
        "candidate_replay_s": round(replay_s, 1),
        "offers_published_s": round(published_s, 2),
        "offers_per_s": round(offers / elapsed, 1),
        "matches_emitted": int(emitted),
        "match_events_per_s": round(emitted / elapsed, 1),
        "elapsed_s": round(elapsed, 2),
        "peer_core_only_offers_per_s": round(len(core_offers) / core_s, 1),
        "offers_phase_cpu_s": round(offers_cpu_s, 2),
        "peer_core_only_cpu_s": round(core_cpu_s, 2),
        "peer_raw_producer_events_per_s": round(len(records) / raw_s, 1),
    }


def _total(counter: Any, **labels: str) -> float:
    """The sum of a counter's `_total` samples with these labels: read from that counter alone (the
    registry's gauges count the offers at each collection, and this is polled every 50 ms)."""
    return float(
        sum(
            s.value
            for m in counter.collect()
            for s in m.samples
            if s.name.endswith("_total") and labels.items() <= s.labels.items()
        )
    )


class _OffersProfile:
    """A profile of the offers phase when `VOCATION_BENCH_MATCHING_PROFILE` names its output file.

    `*.prof`: cProfile (CPU of this process, read with `python -m pstats`; it slows the service
    by about 2x, so a profiled run's figures are not comparable). Any other name: py-spy (if
    installed) samples this process, waiting included (`--idle`), into collapsed stacks: a
    wall-clock breakdown at almost no cost.
    """

    def __init__(self) -> None:
        self._path = os.environ.get("VOCATION_BENCH_MATCHING_PROFILE", "")
        self._cprofile: Any = None
        self._spy: Any = None

    async def start(self) -> None:
        """Start sampling or tracing (nothing without the variable)."""
        if not self._path:
            return
        if self._path.endswith(".prof"):
            import cProfile

            self._cprofile = cProfile.Profile()
            self._cprofile.enable()
            return
        import asyncio
        import shutil
        import subprocess
        import sys

        spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
        command = [spy, "record", "--pid", str(os.getpid()), "--idle", "--rate", "250"]
        command += ["--format", "raw", "--output", self._path]
        self._spy = await asyncio.create_subprocess_exec(*command, stdout=subprocess.DEVNULL)
        await asyncio.sleep(1.0)  # py-spy attaches before the phase starts

    async def stop(self) -> None:
        """Stop and write the profile."""
        if self._cprofile is not None:
            self._cprofile.disable()
            self._cprofile.dump_stats(self._path)
        if self._spy is not None:
            import signal

            self._spy.send_signal(signal.SIGINT)
            await self._spy.wait()


def _vacancy_events(population: Population, run: str, offers: int) -> list[Any]:
    """`offers` vacancy-posted events drawn from the population (ids unique to `run`)."""
    from vocation_shared.contracts import events as ev
    from vocation_shared.contracts import payloads as p
    from vocation_shared.testing import samples

    vacancies = []
    for k, offer in enumerate(population.offers(offers)):
        data = samples.vacancy(
            id=f"bv-{run}-{k}",
            rome_code=offer.rome,
            commune_insee=offer.commune_insee,
            contract_type=str(offer.contract_type),
            required_diploma=str(offer.required_diploma) if offer.required_diploma else None,
            schedule={"night": offer.night, "weekend": offer.weekend},
            housing_offered=offer.housing_offered,
        )
        vacancies.append(ev.VacancyPosted.build(p.Vacancy.model_validate(data), source="urn:bench"))
    return vacancies


async def _through_kafka_processes(
    infra: BenchInfra, offers: int, instance_counts: tuple[int, ...] = (1, 2)
) -> dict[str, object]:
    """The service as separate processes (`python -m vocation_matching`), one instance then two in
    one group, on the candidates `_through_kafka` left on the topic: offers/s for each, so that
    what a second instance (the second core) adds is measured, not assumed.

    Each count gets its own database (daily caps start empty), its own group started at the
    topics' current end (no replay of the history) and its own new vacancies.
    """
    import asyncio
    import subprocess
    import uuid

    import httpx
    from vocation_local.kafka_admin import start_groups_at_end
    from vocation_local.paths import free_port
    from vocation_local.pg_admin import create_database
    from vocation_shared.contracts.topics import Topic
    from vocation_shared.kafka import EventPublisher, make_broker

    population = Population(seed=23)
    broker = make_broker(infra.kafka_bootstrap, client_id="matching-bench-processes")
    await broker.connect()
    publisher = EventPublisher(broker)
    results: dict[str, object] = {}

    async def reacted(client: httpx.AsyncClient, ports: list[int]) -> float:
        total = 0.0
        for port in ports:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            for line in text.splitlines():
                if line.startswith('vocation_matching_events_reacted_total{direction="offer"}'):
                    total += float(line.rsplit(" ", 1)[1])
        return total

    try:
        for count in instance_counts:
            run = uuid.uuid4().hex[:6]
            group = f"matching-bench-{run}"
            await start_groups_at_end(
                infra.kafka_bootstrap,
                {
                    f"{group}.{t}": str(t)
                    for t in (Topic.CANDIDATES, Topic.VACANCIES, Topic.IMMERSION_SLOTS, Topic.TRAININGS)
                },
            )
            dsn = await create_database(infra.postgres_url, f"matching_bench_{run}")
            ports = [free_port() for _ in range(count)]
            processes = [_start_instance(infra, dsn, group, port) for port in ports]
            try:
                async with httpx.AsyncClient(timeout=5) as client:
                    deadline = time.monotonic() + 600
                    for port in ports:
                        while True:
                            if time.monotonic() > deadline or any(pr.poll() is not None for pr in processes):
                                raise RuntimeError("a matching instance did not become ready")
                            try:
                                if (
                                    await client.get(f"http://127.0.0.1:{port}/health/ready")
                                ).status_code == 200:
                                    break
                            except httpx.HTTPError:
                                pass
                            await asyncio.sleep(0.2)
                    await asyncio.sleep(3)  # both members in every group: no rebalance while measuring
                    vacancies = _vacancy_events(population, run, offers)
                    started = time.perf_counter()
                    await publisher.publish_many(vacancies)
                    while await reacted(client, ports) < offers and time.perf_counter() - started < 600:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                    elapsed = time.perf_counter() - started
                    emitted = await _recorded_matches(dsn)
            finally:
                for process in processes:
                    process.terminate()
                for process in processes:
                    try:
                        process.wait(30)
                    except subprocess.TimeoutExpired:
                        process.kill()
            results[f"{count}_instances"] = {
                "offers_per_s": round(offers / elapsed, 1),
                "matches_emitted": emitted,
                "elapsed_s": round(elapsed, 2),
            }
    finally:
        await broker.stop()
    return results


def _start_instance(infra: BenchInfra, dsn: str, group: str, port: int) -> Any:
    """One matching instance as its own process, in `group`, serving HTTP on `port`."""
    import subprocess
    import sys

    env = {
        **os.environ,
        "VOCATION_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "VOCATION_DATABASE_URL": dsn,
        "VOCATION_CONSUMER_GROUP": group,
        "VOCATION_HTTP_PORT": str(port),
        "VOCATION_LOG_LEVEL": "WARNING",
        "VOCATION_DEV_MODE": "true",  # a measurement on the public development secrets
    }
    return subprocess.Popen([sys.executable, "-m", "vocation_matching"], env=env)


async def _recorded_matches(dsn: str) -> int:
    """Matches recorded in a matching database."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM emitted_matches"))
    finally:
        await conn.close()


if __name__ == "__main__":
    print(json.dumps(main(), indent=2, ensure_ascii=False))
