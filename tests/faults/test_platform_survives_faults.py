"""10,000 events through the gateway while each service is killed (-9) and the broker restarted: nothing lost."""

from __future__ import annotations

import asyncio
import os
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka.errors import KafkaError
from vocation_local.faults import (
    FaultPlatform,
    consumer_lag,
    mailbox_headers,
    post_batch,
    read_topics,
    sms_sent,
    wait_for,
)
from vocation_local.kafka import KafkaBroker
from vocation_shared.contracts import events as ev
from vocation_shared.contracts.codec import InvalidEvent, parse_event
from vocation_shared.contracts.topics import ENTITY_TOPICS, Topic
from vocation_shared.links import DEVELOPMENT_LINK_KEY, Action, LinkSigner

from tests.faults.workload import Workload, build

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]

BATCH = 100
SEND_SECONDS = 80.0
# How long the platform may take to catch up after the run, counted from the first batch sent
# (matching is the slowest reader: after the broker's restart it reacts at a few offers a second,
# and settles 290-310 s after the start on this 2-core machine, the same before and after the
# trust work of issue 12).
SETTLE_SECONDS = float(os.environ.get("VOCATION_FAULTS_SETTLE_S", "420"))
# When (fraction of the batches sent) each fault strikes; one after the other.
FAULTS = (
    (0.10, "events"),
    (0.25, "catalogue"),
    (0.40, "matching"),
    (0.55, "notifications"),
    (0.70, "kafka"),
)
REF = re.compile(r"réf\. (\S+)")
OFFER_URL = re.compile(r"/(?:offres|immersions|formations)/([A-Za-z0-9._-]+)")
SIGNED = re.compile(r"/l/([A-Za-z0-9_-]+)")
LINKS = LinkSigner([DEVELOPMENT_LINK_KEY])  # the fault platform runs on the development link key

Key = tuple[str, str, str]  # (address or phone, what, about)


@dataclass
class SendReport:
    """What the partner saw: outcomes per event id, and the retries the faults caused."""

    outcomes: dict[str, str] = field(default_factory=dict)
    retries: Counter[str] = field(default_factory=Counter)
    faults: list[tuple[str, float]] = field(default_factory=list)
    sent_batches: int = 0


async def _send(
    platform: FaultPlatform, key: str, batches: list[list[dict[str, Any]]], report: SendReport
) -> None:
    """Send every batch at a steady pace, retrying a batch until the gateway answers 202."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=httpx.Timeout(30, connect=2)) as client:
        for n, batch in enumerate(batches):
            due = started + SEND_SECONDS * n / len(batches)
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            while True:
                try:
                    answer = await post_batch(client, platform.urls["events"], key, batch)
                except httpx.HTTPError as exc:
                    report.retries[type(exc).__name__] += 1
                    await asyncio.sleep(0.5)
                    continue
                if answer.status_code != 202:
                    report.retries[str(answer.status_code)] += 1
                    await asyncio.sleep(0.5)
                    continue
                for result in answer.json()["results"]:
                    report.outcomes[result["id"]] = result["status"]
                break
            report.sent_batches = n + 1


async def _strike(platform: FaultPlatform, broker: KafkaBroker, total: int, report: SendReport) -> None:
    """Each fault in turn, once its share of the batches is sent; the victim comes back before the next."""
    for share, victim in FAULTS:
        while report.sent_batches < share * total:
            await asyncio.sleep(0.1)
        began = time.monotonic()
        if victim == "kafka":
            await asyncio.to_thread(broker.stop)
            await asyncio.to_thread(broker.start)
        else:
            await asyncio.to_thread(platform.kill, victim)
            await asyncio.to_thread(platform.restart, victim)
        report.faults.append((victim, round(time.monotonic() - began, 1)))


async def _settled(platform: FaultPlatform, bootstrap: str, seen: dict[str, Any]) -> bool:
    """Every consumer group has committed everything, and nothing due is left to send."""
    try:
        lag = {group: n for group, n in (await consumer_lag(bootstrap)).items() if n}
    except KafkaError as exc:  # the restarted broker is still loading its groups
        seen["lag"] = repr(exc)
        return False
    connection = await asyncpg.connect(platform.databases["notifications"])
    try:
        states = await connection.fetch(
            "SELECT state, not_before <= now() AS due, count(*) AS n FROM outbox GROUP BY 1, 2"
        )
    finally:
        await connection.close()
    seen["lag"] = lag
    seen["outbox"] = {f"{r['state']}{'' if r['due'] else ' (later)'}": r["n"] for r in states}
    busy = [r for r in states if r["state"] == "sending" or (r["state"] == "pending" and r["due"])]
    return not lag and not busy


def _email_key(headers: dict[str, str]) -> Key:
    to, subject = headers.get("To", ""), " ".join(headers.get("Subject", "").split())
    found = REF.search(subject)
    about = found[1] if found else ""
    if subject.startswith("Nouvelle offre pour vous"):
        return (to, "match", about)
    if subject.startswith("Votre immersion est confirmée"):
        return (to, "booked", about)
    if subject.startswith("Immersion réservée"):
        return (to, "host", about)
    if subject.startswith("Votre demande d'immersion"):
        return (to, "refused", "")
    return (to, "other", subject)


def _sms_key(sms: dict[str, Any]) -> Key:
    text = str(sms["text"])
    if text.startswith("Vocation : immersion confirmée"):
        found = OFFER_URL.search(text)
        return (str(sms["to"]), "booked", found[1] if found else "")
    if text.startswith("Vocation : votre demande d'immersion"):
        return (str(sms["to"]), "refused", "")
    viewed = _viewed_offer(text)
    if viewed and not text.startswith("Vocation : remplacement urgent"):
        return (str(sms["to"]), "match", viewed)
    return (str(sms["to"]), "other", text)


def _viewed_offer(text: str) -> str:
    """The offer a match SMS's one short link opens: its signed personal page (development key)."""
    for token in SIGNED.findall(text):
        checked = LINKS.verify(token)
        if checked.link is not None and checked.link.action is Action.VIEW_OFFER:
            return checked.link.target_id
    return ""


def _expected(
    work: Workload, topics: dict[str, list[Any]]
) -> tuple[Counter[Key], Counter[Key], Counter[Key], Counter[Key], dict[str, int]]:
    """(required, allowed) emails and SMS from what the services published: matches and bookings."""
    found: set[tuple[str, str]] = set()
    withdrawn: set[tuple[str, str]] = set()
    for event in topics[Topic.MATCHES]:
        if isinstance(event, ev.MatchFound):
            found.add((event.data.candidate_id, event.data.offer_id))
        elif isinstance(event, ev.MatchWithdrawn):
            withdrawn.add((event.data.candidate_id, event.data.offer_id))
    outcomes: dict[str, Any] = {}
    decided: dict[str, set[str]] = {}
    for event in topics[Topic.IMMERSION_BOOKINGS]:
        if isinstance(event, ev.ImmersionBooked | ev.ImmersionRefused):
            outcomes[event.data.request_id] = event
            decided.setdefault(event.data.request_id, set()).add(event.type)
    both = [r for r, types in decided.items() if len(types) > 1]
    assert not both, f"requests both booked and refused: {both[:5]}"

    required_mail: Counter[Key] = Counter()
    allowed_mail: Counter[Key] = Counter()
    required_sms: Counter[Key] = Counter()
    allowed_sms: Counter[Key] = Counter()
    for candidate_id, offer_id in found:
        if candidate_id in work.email_consent:
            key = (work.email_of[candidate_id], "match", offer_id)
            allowed_mail[key] = 1
            if (candidate_id, offer_id) not in withdrawn:
                required_mail[key] = 1
        if candidate_id in work.sms_consent:
            key = (work.phone_of[candidate_id], "match", offer_id)
            allowed_sms[key] = 1
            if (candidate_id, offer_id) not in withdrawn:
                required_sms[key] = 1
    for event in outcomes.values():
        data = event.data
        what = "booked" if isinstance(event, ev.ImmersionBooked) else "refused"
        about = data.slot_id if what == "booked" else ""
        told: list[tuple[Counter[Key], Key]] = []
        if data.candidate_id in work.email_consent:
            told += [(required_mail, (work.email_of[data.candidate_id], what, about))]
        if data.candidate_id in work.sms_consent:
            told += [(required_sms, (work.phone_of[data.candidate_id], what, about))]
        if what == "booked":
            told += [(required_mail, (work.tutor_of_slot[data.slot_id], "host", data.slot_id))]
        for counter, key in told:
            counter[key] += 1
            (allowed_mail if counter is required_mail else allowed_sms)[key] += 1
    figures = {
        "match_found_pairs": len(found),
        "withdrawn_pairs": len(withdrawn),
        "booked": sum(isinstance(e, ev.ImmersionBooked) for e in outcomes.values()),
        "refused": sum(isinstance(e, ev.ImmersionRefused) for e in outcomes.values()),
        # Every request of the workload names a slot offered before it: "unknown slot" would be
        # the catalogue deciding before it read the slot (its two topics read at their own pace).
        "refused_slot_unknown": sum(
            isinstance(e, ev.ImmersionRefused) and e.data.reason == "slot_unknown" for e in outcomes.values()
        ),
    }
    return required_mail, allowed_mail, required_sms, allowed_sms, figures


async def _events_on_topics(bootstrap: str) -> dict[str, list[Any]]:
    by_topic: dict[str, list[Any]] = {spec.name: [] for spec in ENTITY_TOPICS}
    for record in await read_topics(bootstrap, [spec.name for spec in ENTITY_TOPICS], within_s=120):
        if record.value is None:
            continue
        try:
            by_topic[record.topic].append(parse_event(record.value))
        except InvalidEvent:
            by_topic[record.topic].append(None)
    return by_topic


async def _archived(platform: FaultPlatform, source: str) -> set[str]:
    connection = await asyncpg.connect(platform.databases["events"])
    try:
        rows = await connection.fetch("SELECT event_id FROM archived_events WHERE source = $1", source)
    finally:
        await connection.close()
    return {r["event_id"] for r in rows}


async def test_a_run_with_every_service_killed_and_the_broker_restarted_loses_and_doubles_nothing(
    fault_platform: FaultPlatform,
    fault_broker: KafkaBroker,
    partner: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    key, source = partner
    run = uuid.uuid4().hex[:6]
    work = build(run, source)
    for event in work.events:
        parse_event(event)  # the workload itself is valid: every rejection would be the platform's
    batches = [work.events[i : i + BATCH] for i in range(0, len(work.events), BATCH)]
    report = SendReport()
    started = time.monotonic()
    await asyncio.gather(
        _send(fault_platform, key, batches, report),
        _strike(fault_platform, fault_broker, len(batches), report),
    )
    sent_in = time.monotonic() - started

    bootstrap = fault_broker.bootstrap
    seen: dict[str, Any] = {}
    try:
        await wait_for(
            lambda: _settled(fault_platform, bootstrap, seen),
            "settling",
            within_s=SETTLE_SECONDS - (time.monotonic() - started),
            interval=2,
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {seen} faults={report.faults} retries={dict(report.retries)}") from exc
    settled_in = time.monotonic() - started
    await asyncio.sleep(3)  # a straggling duplicate would show up now

    # 0 events lost: every accepted event is on its topic and in the archive.
    sent_ids = {e["id"] for e in work.events}
    not_accepted = {i: s for i, s in report.outcomes.items() if s not in ("accepted", "duplicate")}
    assert not not_accepted, f"the gateway did not accept: {list(not_accepted.items())[:5]}"
    assert set(report.outcomes) == sent_ids
    topics = await _events_on_topics(bootstrap)
    on_topics = {e.id for events in topics.values() for e in events if e is not None and e.source == source}
    archived = await _archived(fault_platform, source)
    lost_on_kafka = sent_ids - on_topics
    lost_in_archive = sent_ids - archived
    dead_letters = await read_topics(bootstrap, [spec.dlq for spec in ENTITY_TOPICS])

    # 0 duplicate, 0 missing notifications: expected from the matches and bookings published.
    required_mail, allowed_mail, required_sms, allowed_sms, figures = _expected(work, topics)
    # The platform also (rightly) tells the people of the other fault test, which shared the
    # broker before it: only this run's addresses are compared.
    mails = [m for m in mailbox_headers(fault_platform.mail_dir) if f".{run}@" in m.get("To", "")]
    delivered_mail = Counter(_email_key(m) for m in mails)
    resent_mail = {i: n for i, n in Counter(m.get("Message-ID", "") for m in mails).items() if n > 1}
    texts = sms_sent(fault_platform.sms_file)
    delivered_sms = Counter(_sms_key(s) for s in texts)
    resent_sms = {i: n for i, n in Counter(str(s["id"]) for s in texts).items() if n > 1}
    missing_mail = required_mail - delivered_mail
    extra_mail = delivered_mail - allowed_mail
    missing_sms = required_sms - delivered_sms
    extra_sms = delivered_sms - allowed_sms

    summary = {
        "events_sent": len(sent_ids),
        "send_s": round(sent_in, 1),
        "settled_s": round(settled_in, 1),
        "faults_recovery_s": report.faults,
        "retries": dict(report.retries),
        "duplicates_at_gateway": sum(1 for s in report.outcomes.values() if s == "duplicate"),
        "lost_on_kafka": len(lost_on_kafka),
        "lost_in_archive": len(lost_in_archive),
        "dead_letters": len(dead_letters),
        **figures,
        "emails": len(mails),
        "emails_required": sum(required_mail.values()),
        "emails_missing": sum(missing_mail.values()),
        "emails_extra": sum(extra_mail.values()),
        "emails_same_message_id": sum(n - 1 for n in resent_mail.values()),
        "sms": len(texts),
        "sms_required": sum(required_sms.values()),
        "sms_missing": sum(missing_sms.values()),
        "sms_extra": sum(extra_sms.values()),
        "sms_same_id": sum(n - 1 for n in resent_sms.values()),
    }
    with capsys.disabled():
        print(f"\nfault run: {summary}")
    assert len(report.faults) == len(FAULTS), report.faults
    assert not lost_on_kafka, f"accepted but not on Kafka: {sorted(lost_on_kafka)[:10]} {summary}"
    assert not lost_in_archive, f"accepted but not archived: {sorted(lost_in_archive)[:10]} {summary}"
    assert not dead_letters, f"dead-lettered under faults: {[r.headers for r in dead_letters[:3]]}"
    assert figures["match_found_pairs"] > 1000 and required_mail, summary
    assert figures["refused_slot_unknown"] == 0, f"a request decided before its slot was read: {summary}"
    assert not missing_mail, f"emails never sent: {list(missing_mail.items())[:10]} {summary}"
    assert not missing_sms, f"SMS never sent: {list(missing_sms.items())[:10]} {summary}"
    assert not extra_mail, f"emails sent twice or unexpected: {list(extra_mail.items())[:10]} {summary}"
    assert not extra_sms, f"SMS sent twice or unexpected: {list(extra_sms.items())[:10]} {summary}"
    assert not resent_mail and not resent_sms, summary
