"""Two matching instances share the work; one killed with -9 hands its partitions over, nothing lost or doubled."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from vocation_local.faults import FaultPlatform, mailbox_headers, post_batch, read_topics, wait_for
from vocation_local.kafka import KafkaBroker
from vocation_shared.contracts import events as ev
from vocation_shared.contracts.codec import parse_event
from vocation_shared.contracts.topics import Topic
from vocation_shared.reference import communes
from vocation_shared.reference.geo import haversine_km
from vocation_shared.testing import samples

pytestmark = [pytest.mark.faults, pytest.mark.timeout(600)]

PAIRS = 60
GROUP = f"matching.{Topic.VACANCIES}"
# Far from the Ain and the Landes of the other fault run: these offers can only match these people.
DEPARTEMENTS = ("29", "35", "56", "22", "50", "14", "61", "72", "53", "49", "44", "85", "79", "86", "37")


def _towns(count: int, apart_km: float = 25.0) -> list[str]:
    """`count` communes of western France, each more than `apart_km` from the others."""
    picked: list[tuple[str, float, float]] = []
    for departement in DEPARTEMENTS:
        known = [c for c in communes().in_departement(departement) if c.latitude and c.longitude]
        known.sort(key=lambda c: -(c.population or 0))
        for town in known:
            assert town.latitude is not None and town.longitude is not None
            if all(haversine_km(town.latitude, town.longitude, la, lo) > apart_km for _, la, lo in picked):
                picked.append((town.insee, town.latitude, town.longitude))
            if len(picked) == count:
                return [insee for insee, _, _ in picked]
    raise AssertionError("not enough communes")


async def _vacancy_members(bootstrap: str) -> dict[str, int]:
    """The members of the matching group of `vacancies`, by client id, and how many partitions each holds."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_consumer_groups([GROUP])
    finally:
        await admin.close()
    members: dict[str, int] = {}
    for group in described.groups:
        for _, client_id, _, _, assignment in group[5]:
            held = len(ConsumerProtocolMemberAssignment.decode(assignment).partitions()) if assignment else 0
            members[client_id] = members.get(client_id, 0) + held
    return members


async def test_a_killed_matching_instance_hands_its_partitions_over_without_loss_or_double(
    fault_platform: FaultPlatform, fault_broker: KafkaBroker, partner: tuple[str, str]
) -> None:
    key, source = partner
    run = uuid.uuid4().hex[:6]
    bootstrap = fault_broker.bootstrap
    await asyncio.to_thread(fault_platform.add_instance, "matching-2", "matching")
    await asyncio.to_thread(fault_platform.wait_ready, "matching-2", 180)

    async def shared() -> bool:
        members = await _vacancy_members(bootstrap)
        return len(members) == 2 and all(members.values())

    await wait_for(shared, "both instances holding partitions of vacancies", within_s=60)

    today = datetime.now(UTC).date()
    towns = _towns(PAIRS)
    people: list[dict[str, Any]] = []
    offers: list[dict[str, Any]] = []
    for i, town in enumerate(towns):
        person = samples.candidate(
            id=f"{run}-p{i}",
            home_commune_insee=town,
            mobility_radius_km=5,
            available_from=today.isoformat(),
            contact={"email": f"bascule.{i}.{run}@example.org", "channels": ["email"]},
        )
        people.append(samples.cloud_event(
            "fr.vocation.candidate.registered.v1", person["id"], person, id=f"{run}-pe{i}", source=source
        ))  # fmt: skip
        vacancy = samples.vacancy(
            id=f"{run}-o{i}",
            title=f"Aide-soignant(e) réf. {run}-o{i}",
            commune_insee=town,
            start_date=(today + timedelta(days=20)).isoformat(),
        )
        offers.append(samples.cloud_event(
            "fr.vocation.vacancy.posted.v1", vacancy["id"], vacancy, id=f"{run}-oe{i}", source=source
        ))  # fmt: skip

    async with httpx.AsyncClient(timeout=30) as client:

        async def send(batch: list[dict[str, Any]]) -> None:
            while True:
                try:
                    answer = await post_batch(client, fault_platform.urls["events"], key, batch)
                except httpx.HTTPError:
                    await asyncio.sleep(0.5)
                    continue
                if answer.status_code == 202:
                    assert answer.json()["rejected"] == 0, answer.text
                    return
                await asyncio.sleep(0.5)

        await send(people)
        await asyncio.sleep(2)  # both instances' state holds the people (the barrier would wait anyway)
        killed_at = PAIRS // 3
        for i, offer in enumerate(offers):
            if i == killed_at:
                await asyncio.to_thread(fault_platform.kill, "matching-2")
            await send([offer])
            await asyncio.sleep(0.2)

    async def survivor_holds_all() -> bool:
        members = await _vacancy_members(bootstrap)
        return len(members) == 1 and sum(members.values()) == 3

    await wait_for(survivor_holds_all, "the survivor holding every partition of vacancies", within_s=60)

    wanted = {(f"{run}-p{i}", f"{run}-o{i}") for i in range(PAIRS)}
    addresses = {f"bascule.{i}.{run}@example.org": f"{run}-o{i}" for i in range(PAIRS)}
    found: Counter[tuple[str, str]] = Counter()
    ids: dict[tuple[str, str], set[str]] = {}

    async def all_matched_and_mailed() -> bool:
        found.clear()
        ids.clear()
        for record in await read_topics(bootstrap, [Topic.MATCHES]):
            if record.value is None or run.encode() not in record.value:
                continue
            event = parse_event(record.value)
            if isinstance(event, ev.MatchFound):
                pair = (event.data.candidate_id, event.data.offer_id)
                found[pair] += 1
                ids.setdefault(pair, set()).add(event.data.match_id)
        mailed = {m["To"] for m in mailbox_headers(fault_platform.mail_dir) if m.get("To") in addresses}
        return wanted <= found.keys() and len(mailed) == PAIRS

    started = time.monotonic()
    await wait_for(all_matched_and_mailed, "every pair matched and mailed", within_s=120, interval=1)
    await asyncio.sleep(3)  # a late double would arrive now
    mails = Counter(m["To"] for m in mailbox_headers(fault_platform.mail_dir) if m.get("To") in addresses)

    assert set(found) == wanted, f"unexpected pairs: {set(found) - wanted}"
    assert all(len(i) == 1 for i in ids.values()), "a pair matched under two match ids"
    assert set(mails.values()) == {1}, f"emails sent twice: {[a for a, n in mails.items() if n > 1]}"
    republished = sum(n - 1 for n in found.values())
    print(
        f"failover: {PAIRS} pairs, republished={republished}, settled in {time.monotonic() - started:.1f} s"
    )
