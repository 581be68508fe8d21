"""The platform as its users see it: events in at the gateway, emails and SMS out, every service a process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest
from vocation_local.e2e import Platform
from vocation_local.e2e import eventually as _eventually
from vocation_local.e2e import mails_to as _mails_to
from vocation_local.e2e import sms_to as _sms_to
from vocation_local.e2e import write_to_topic as _publish_raw
from vocation_local.partners import create_partner
from vocation_notifications.testing import personal_links
from vocation_shared.testing import samples

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SOURCE = "urn:partner:e2e-departement-ain"


@pytest.fixture(scope="module")
def api_key(platform: Platform) -> str:
    """A partner allowed every event type, created with the operator CLI."""
    return create_partner(
        platform.environments["events"], f"e2e-{uuid.uuid4().hex[:6]}", SOURCE, share_source=True
    ).key


def _post(platform: Platform, key: str, event: dict[str, Any]) -> None:
    answer = httpx.post(
        f"{platform.urls['events']}/v1/events",
        content=json.dumps(event),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/cloudevents+json"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text


def _event(event_type: str, subject: str, data: dict[str, Any]) -> dict[str, Any]:
    return samples.cloud_event(event_type, subject, data, id=f"e2e-{uuid.uuid4().hex}", source=SOURCE)


def _candidate(
    run: str, name: str, commune: str, email: str, phone: str | None, **profile: Any
) -> dict[str, Any]:
    channels = ["email"] + (["sms"] if phone else [])
    contact = {"email": email, "channels": channels} | ({"phone": phone} if phone else {})
    return samples.candidate(id=f"cand-{run}-{name}", home_commune_insee=commune, contact=contact, **profile)


def test_offer_posted_reaches_the_right_candidates_only(platform: Platform, api_key: str) -> None:
    run = uuid.uuid4().hex[:8]
    near_email, far_email = f"lea.{run}@example.org", f"hugo.{run}@example.org"
    near_phone = "+3361" + str(uuid.uuid4().int)[:7]
    near = _candidate(run, "lea", samples.AMBERIEU_EN_BUGEY, near_email, near_phone, mobility_radius_km=40)
    far = _candidate(run, "hugo", samples.MONT_DE_MARSAN, far_email, None, mobility_radius_km=30)
    for person in (near, far):
        _post(platform, api_key, _event("fr.vocation.candidate.registered.v1", person["id"], person))

    vacancy = samples.vacancy(id=f"vac-{run}", title="Aide-soignant(e) de nuit en EHPAD")
    _post(platform, api_key, _event("fr.vocation.vacancy.posted.v1", vacancy["id"], vacancy))

    # Other tests' offers share the broker (and may fit these people): look at the mails about this one.
    def about_this_offer(address: str) -> list[dict[str, Any]]:
        mails = _mails_to(platform, address)
        return [m for m in mails if vacancy["id"] in {x.target_id for x in personal_links(m["text"])}]

    _eventually(lambda: bool(about_this_offer(near_email)), "the email to the nearby candidate", platform)
    mail = about_this_offer(near_email)[0]
    assert "Aide-soignant" in mail["subject"] + mail["text"]
    assert "29 km" in mail["text"], mail["text"]
    assert "List-Unsubscribe" in mail["headers"]
    _eventually(lambda: bool(_sms_to(platform, near_phone)), "the SMS to the nearby candidate", platform)
    assert "STOP" in _sms_to(platform, near_phone)[0]["text"]

    time.sleep(3)  # whatever the far candidate would get would have come by now
    assert about_this_offer(far_email) == []
    assert len(about_this_offer(near_email)) == 1


def test_immersion_requested_is_booked_and_both_sides_are_told(platform: Platform, api_key: str) -> None:
    run = uuid.uuid4().hex[:8]
    tutor_email = f"tuteur.{run}@ehpad-tilleuls.example.org"
    establishment: dict[str, Any] = {
        "id": f"etab-{run}",
        "siret": samples.SIRET_EHPAD_BOURG,
        "name": "EHPAD Les Tilleuls",
        "kind": "ehpad",
        "commune_insee": samples.BOURG_EN_BRESSE,
        "immersion_contact_email": tutor_email,
    }
    _post(
        platform,
        api_key,
        _event("fr.vocation.establishment.registered.v1", establishment["id"], establishment),
    )
    candidate_email = f"sam.{run}@example.org"
    person = _candidate(run, "sam", samples.AMBERIEU_EN_BUGEY, candidate_email, None, wants_immersion=True)
    _post(platform, api_key, _event("fr.vocation.candidate.registered.v1", person["id"], person))
    slot: dict[str, Any] = {
        "id": f"slot-{run}",
        "establishment": {k: establishment[k] for k in ("id", "siret", "name", "kind")},
        "rome_code": "J1501",
        "title": "Une semaine avec l'équipe de jour",
        "commune_insee": samples.BOURG_EN_BRESSE,
        "start_date": "2027-01-11",
        "end_date": "2027-01-15",
        "capacity": 2,
        "places_left": 2,
    }
    _post(platform, api_key, _event("fr.vocation.immersion-slot.offered.v1", slot["id"], slot))
    _eventually(
        lambda: (
            httpx.get(f"{platform.urls['catalogue']}/v1/immersions/{slot['id']}", timeout=5).status_code
            == 200
        ),
        "the slot in the catalogue",
        platform,
    )
    request: dict[str, Any] = {
        "request_id": f"req-{run}",
        "slot_id": slot["id"],
        "candidate_id": person["id"],
        "start_date": "2027-01-11",
        "end_date": "2027-01-15",
    }
    _post(platform, api_key, _event("fr.vocation.immersion.requested.v1", slot["id"], request))

    _eventually(lambda: bool(_mails_to(platform, candidate_email)), "the candidate's confirmation", platform)
    _eventually(lambda: bool(_mails_to(platform, tutor_email)), "the host's confirmation", platform)
    _eventually(
        lambda: (
            httpx.get(f"{platform.urls['catalogue']}/v1/immersions/{slot['id']}", timeout=5)
            .json()
            .get("places_left")
            == 1
        ),
        "one place taken in the catalogue",
        platform,
    )


# --- helpers of the journeys below -------------------------------------------------------------


def _query(dsn: str, sql: str, *args: Any) -> list[Any]:
    """Rows of a query on a service's database (where no public interface tells)."""

    async def fetch() -> list[Any]:
        connection = await asyncpg.connect(dsn)
        try:
            return list(await connection.fetch(sql, *args))
        finally:
            await connection.close()

    return asyncio.run(fetch())


def _reacted(platform: Platform) -> float:
    """Events the matching service has reacted to so far (its `vocation_matching_events_reacted` counter)."""
    text = httpx.get(f"{platform.urls['matching']}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("vocation_matching_events_reacted_total{")
    )


def _post_all(platform: Platform, key: str, events: list[dict[str, Any]]) -> None:
    """Post events one by one, then wait until matching reacted to as many events."""
    before = _reacted(platform)
    for event in events:
        _post(platform, key, event)
    _eventually(lambda: _reacted(platform) >= before + len(events), "matching's reactions", platform)


def _vacancy(run: str, name: str, commune: str, rome: str, diploma: str, **fields: Any) -> dict[str, Any]:
    establishment = {"id": f"etab-{run}-{name}", "siret": samples.SIRET_SAAD_MONT_DE_MARSAN}
    establishment |= {"name": f"Établissement {name.title()}", "kind": "ccas"}
    data = {
        "id": f"vac-{run}-{name}",
        "establishment": establishment,
        "rome_code": rome,
        "title": f"Poste {name} ({rome})",
        "contract_type": "cdi",
        "working_time": "full_time",
        "schedule": {"night": False, "weekend": False},
        "start_date": samples.candidate()["available_from"],
        "required_diploma": diploma,
        "housing_offered": False,
        "commune_insee": commune,
    }
    return samples.vacancy(**(data | fields))


def _closed(vacancy: dict[str, Any]) -> dict[str, Any]:
    return vacancy | {"status": "closed", "version": vacancy["version"] + 1}


def _profile(rome: str, diploma: str, radius: float, **fields: Any) -> dict[str, Any]:
    return {
        "wanted_rome_codes": [rome],
        "accepts_close_metiers": False,
        "diplomas": [diploma],
        "experience": [],
        "life_experience": [],
        "mobility_radius_km": radius,
    } | fields


def _settled(
    platform: Platform, address: str, count: int, seconds: float = 2.0, within: float = 60.0
) -> list[dict[str, Any]]:
    """Wait for `count` emails to `address` (at most `within` s), then a little more: no other may come."""
    _eventually(lambda: len(_mails_to(platform, address)) >= count, f"{count} emails", platform, within)
    time.sleep(seconds)
    return _mails_to(platform, address)


BISCARROSSE, PARENTIS, MIMIZAN, SANGUINET = "40046", "40217", "40184", "40287"
SOUSTONS, CAPBRETON, VALSERHONE = "40310", "40065", "01033"


# --- candidate registered → best open offers ----------------------------------------------------


def test_a_new_candidate_is_told_the_open_offers_that_fit_with_reasons(
    platform: Platform, api_key: str
) -> None:
    run = uuid.uuid4().hex[:8]
    tisf = ("K1305", "DETISF")
    near = _vacancy(run, "near", BISCARROSSE, *tisf, title="TISF auprès des familles de Biscarrosse")
    mid = _vacancy(
        run,
        "mid",
        PARENTIS,
        *tisf,
        title="TISF en protection de l'enfance",
        contract_type="cdd",
        end_date="2027-06-30",
        housing_offered=True,
    )
    weekend = _vacancy(
        run, "weekend", MIMIZAN, *tisf, title="TISF en maison d'enfants", schedule={"weekend": True}
    )
    far = _vacancy(run, "far", samples.MONT_DE_MARSAN, *tisf, title="TISF à Mont-de-Marsan")
    internship = _vacancy(
        run, "stage", SANGUINET, *tisf, title="Stage de TISF", contract_type="stage", end_date="2027-03-31"
    )
    gone = _vacancy(run, "gone", BISCARROSSE, *tisf, title="TISF poste déjà pourvu")
    posted = [near, mid, weekend, far, internship, gone]
    _post_all(
        platform,
        api_key,
        [_event("fr.vocation.vacancy.posted.v1", v["id"], v) for v in posted]
        + [_event("fr.vocation.vacancy.closed.v1", gone["id"], _closed(gone))],
    )

    email = f"clara.{run}@example.org"
    person = _candidate(
        run,
        "clara",
        BISCARROSSE,
        email,
        None,
        **_profile(
            *tisf,
            35,
            experience=[{"rome_code": "K1305", "months": 18}],
            contract_types=["cdi", "cdd"],
            accepts_weekend=True,
            needs_housing=True,
        ),
    )
    _post(platform, api_key, _event("fr.vocation.candidate.registered.v1", person["id"], person))

    # Within seconds, even when the contact (its own topic) reaches notifications after the matches.
    mails = _settled(platform, email, 3, within=15)
    by_title = {m["subject"].split(" : ", 1)[1].rsplit(" à ", 1)[0]: m for m in mails}
    assert sorted(by_title) == sorted(v["title"] for v in (near, mid, weekend)), [m["subject"] for m in mails]
    assert all(m["subject"].startswith("Nouvelle offre pour vous") for m in mails)
    text = by_title[near["title"]]["text"]
    assert "Pourquoi nous vous la proposons" in text
    assert "- À moins d'1 km de chez vous" in text
    assert (
        "- Diplôme d'État de technicien de l'intervention sociale et familiale requis : vous l'avez" in text
    )
    assert "- 1 an et 6 mois d'expérience dans ce métier" in text
    assert "- À 9 km de chez vous" in by_title[mid["title"]]["text"]
    assert "- Logement proposé" in by_title[mid["title"]]["text"]
    assert "- À 22 km de chez vous" in by_title[weekend["title"]]["text"]


# --- an offer closed before the daily digest is not in it ---------------------------------------


def test_an_offer_closed_before_the_daily_digest_is_left_out_of_it(platform: Platform, api_key: str) -> None:
    run = uuid.uuid4().hex[:8]
    eje = ("K1202", "DEEJE")
    email = f"nina.{run}@example.org"
    person = _candidate(run, "nina", SOUSTONS, email, None, **_profile(*eje, 20))
    person["contact"]["digest"] = "daily"
    _post_all(platform, api_key, [_event("fr.vocation.candidate.registered.v1", person["id"], person)])

    kept = _vacancy(run, "kept", SOUSTONS, *eje, title="EJE en multi-accueil à Soustons")
    filled = _vacancy(run, "filled", CAPBRETON, *eje, title="EJE en crèche à Capbreton")
    _post_all(
        platform, api_key, [_event("fr.vocation.vacancy.posted.v1", v["id"], v) for v in (kept, filled)]
    )
    notifications = platform.databases["notifications"]
    held = "SELECT about_id, state FROM outbox WHERE recipient_id = $1 AND purpose = 'match'"

    def rows() -> dict[str, str]:
        return {r["about_id"]: r["state"] for r in _query(notifications, held, person["id"])}

    _eventually(lambda: rows() == {kept["id"]: "held", filled["id"]: "held"}, "both matches held", platform)
    assert _mails_to(platform, email) == [], "a daily-digest candidate is not told at once"

    _post_all(platform, api_key, [_event("fr.vocation.vacancy.closed.v1", filled["id"], _closed(filled))])
    _eventually(
        lambda: rows().get(filled["id"]) == "suppressed", "the closed offer's match withdrawn", platform
    )

    # The digest hour is far: the operator command sends this person's digest now.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "vocation_notifications.cli",
            "digests",
            "send-now",
            "--candidate",
            person["id"],
        ],
        env=platform.environments["notifications"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    (digest,) = _settled(platform, email, 1)
    assert digest["subject"] == "1 nouvelle offre pour vous aujourd'hui"
    assert kept["title"] in digest["text"]
    assert "- À moins d'1 km de chez vous" in digest["text"]
    assert filled["title"] not in digest["text"] + digest["html"]


# --- STOP → no more SMS ---------------------------------------------------------------------------


def test_after_a_stop_reply_no_more_sms_but_emails_go_on(platform: Platform, api_key: str) -> None:
    run = uuid.uuid4().hex[:8]
    ass = ("K1201", "DEASS")
    email, phone = f"yanis.{run}@example.org", "+3363998" + str(uuid.uuid4().int)[:4]
    person = _candidate(run, "yanis", CAPBRETON, email, phone, **_profile(*ass, 10))
    _post_all(platform, api_key, [_event("fr.vocation.candidate.registered.v1", person["id"], person)])
    first = _vacancy(run, "first", CAPBRETON, *ass, title="Assistant(e) de service social au CCAS")
    _post(platform, api_key, _event("fr.vocation.vacancy.posted.v1", first["id"], first))
    _eventually(lambda: len(_sms_to(platform, phone)) == 1, "the first SMS", platform)
    assert "STOP" in _sms_to(platform, phone)[0]["text"]

    answer = httpx.post(
        f"{platform.urls['notifications']}/sms/inbound", json={"from": phone, "text": "Stop"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "stopped"}

    second = _vacancy(run, "second", CAPBRETON, *ass, title="Assistant(e) de service social en EHPAD")
    _post(platform, api_key, _event("fr.vocation.vacancy.posted.v1", second["id"], second))
    mails = _settled(platform, email, 2)
    assert any(second["title"] in m["subject"] for m in mails), "emails go on after an SMS STOP"
    assert len(_sms_to(platform, phone)) == 1, "an SMS after STOP"


# --- erasure → the person's data is gone from every service and the archive ---------------------


def _kafka_values(platform: Platform, topic: str, key: str) -> list[bytes | None]:
    """The values written under `key` on `topic`, oldest first (None: a tombstone)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def read() -> list[bytes | None]:
        consumer = AIOKafkaConsumer(bootstrap_servers=platform.kafka_bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            await consumer._client.force_metadata_update()
            partitions = [
                TopicPartition(topic, n) for n in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            assert partitions, f"no topic {topic}"
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends: dict[Any, int] = await consumer.end_offsets(partitions)
            found: list[bytes | None] = []
            while True:
                positions = [await consumer.position(tp) for tp in partitions]
                if all(position >= ends[tp] for position, tp in zip(positions, partitions, strict=True)):
                    return found
                batches = await consumer.getmany(timeout_ms=1000)
                found += [r.value for records in batches.values() for r in records if r.key == key.encode()]
        finally:
            await consumer.stop()

    return asyncio.run(read())


def test_erasure_removes_the_person_from_every_service_and_the_archive(
    platform: Platform, api_key: str
) -> None:
    run = uuid.uuid4().hex[:8]
    deaf = ("K1309", "DEAF")
    email, phone = f"mila.{run}@example.org", "+3363998" + str(uuid.uuid4().int)[:4]
    person = _candidate(run, "mila", VALSERHONE, email, phone, **_profile(*deaf, 15), wants_immersion=True)
    cid = person["id"]
    _post_all(platform, api_key, [_event("fr.vocation.candidate.registered.v1", cid, person)])
    vacancy = _vacancy(run, "famille", VALSERHONE, *deaf, title="Assistant(e) familial(e)")
    host: dict[str, Any] = {
        "id": f"etab-{run}-host",
        "siret": samples.SIRET_EHPAD_BOURG,
        "name": "Service de placement familial",
        "kind": "mecs",
        "commune_insee": VALSERHONE,
        "immersion_contact_email": f"tuteur.{run}@example.org",
    }
    slot: dict[str, Any] = {
        "id": f"slot-{run}",
        "establishment": {k: host[k] for k in ("id", "siret", "name", "kind")},
        "rome_code": "K1309",
        "title": "Découvrir l'accueil familial",
        "commune_insee": VALSERHONE,
        "start_date": "2027-02-01",
        "end_date": "2027-02-05",
        "capacity": 1,
        "places_left": 1,
    }
    _post(platform, api_key, _event("fr.vocation.establishment.registered.v1", host["id"], host))
    _post_all(
        platform,
        api_key,
        [
            _event("fr.vocation.vacancy.posted.v1", vacancy["id"], vacancy),
            _event("fr.vocation.immersion-slot.offered.v1", slot["id"], slot),
        ],
    )
    slot_url = f"{platform.urls['catalogue']}/v1/immersions/{slot['id']}"
    _eventually(
        lambda: httpx.get(slot_url, timeout=5).status_code == 200, "the slot in the catalogue", platform
    )
    request: dict[str, Any] = {
        "request_id": f"req-{run}",
        "slot_id": slot["id"],
        "candidate_id": cid,
        "start_date": slot["start_date"],
        "end_date": slot["end_date"],
        "motivation": "Je m'occupe déjà de ma nièce et voudrais voir le métier de près.",
    }
    _post(platform, api_key, _event("fr.vocation.immersion.requested.v1", slot["id"], request))
    _eventually(
        lambda: any("immersion est confirmée" in m["subject"] for m in _mails_to(platform, email)),
        "the immersion confirmation",
        platform,
    )
    _eventually(lambda: len(_mails_to(platform, email)) >= 3, "the match emails", platform)
    assert httpx.get(slot_url, timeout=5).json()["places_left"] == 0
    db = platform.databases
    archive = "SELECT count(*) AS n FROM archived_events WHERE event::text LIKE '%' || $1 || '%'"
    _eventually(
        lambda: _query(db["events"], archive, cid)[0]["n"] >= 4, "the archive of the person", platform
    )
    assert _query(db["matching"], "SELECT 1 FROM emitted_matches WHERE candidate_id = $1", cid)

    withdrawn = {"candidate_id": cid, "erasure_requested": True, "reason": "demande d'effacement (RGPD)"}
    _post_all(platform, api_key, [_event("fr.vocation.candidate.withdrawn.v1", cid, withdrawn)])

    checks: dict[str, Callable[[], bool]] = {
        "notifications: the contact": lambda: (
            not _query(db["notifications"], "SELECT 1 FROM contacts WHERE candidate_id = $1", cid)
        ),
        "notifications: what was sent or planned": lambda: (
            not _query(
                db["notifications"], "SELECT 1 FROM outbox WHERE recipient_id = $1 AND payload <> '{}'", cid
            )
        ),
        "matching: the emitted matches": lambda: (
            not _query(db["matching"], "SELECT 1 FROM emitted_matches WHERE candidate_id = $1", cid)
        ),
        "catalogue: the booking": lambda: (
            not _query(db["catalogue"], "SELECT 1 FROM immersion_bookings WHERE candidate_id = $1", cid)
        ),
        "catalogue: the request's outcome": lambda: (
            not _query(
                db["catalogue"],
                "SELECT 1 FROM immersion_outcomes WHERE events::text LIKE '%' || $1 || '%'",
                cid,
            )
        ),
        "catalogue: the place given back": lambda: httpx.get(slot_url, timeout=5).json()["places_left"] == 1,
        "events: the archive": lambda: _query(db["events"], archive, cid)[0]["n"] == 0,
    }
    for what, gone in checks.items():
        _eventually(gone, f"erasure of {what}", platform, timeout=30)
    shown = subprocess.run(
        [sys.executable, "-m", "vocation_shared.cli", "events", "show", cid],
        env=platform.environments["events"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 1, shown.stdout
    assert "no archived event" in shown.stderr
    for topic in ("candidates", "candidate-contacts"):
        values = _kafka_values(platform, topic, cid)
        assert values and values[-1] is None, f"no tombstone last on {topic}"

    # Matching forgot the person: a new offer that would have fitted finds nobody.
    mails_before = len(_mails_to(platform, email))
    again = _vacancy(run, "again", VALSERHONE, *deaf, title="Assistant(e) familial(e), second poste")
    _post_all(platform, api_key, [_event("fr.vocation.vacancy.posted.v1", again["id"], again)])
    time.sleep(1)
    assert not _query(db["matching"], "SELECT 1 FROM emitted_matches WHERE candidate_id = $1", cid)
    assert len(_mails_to(platform, email)) == mails_before


# --- a match that comes before the person's contact is sent once the contact is there -----------


def test_a_match_that_arrives_before_the_contact_is_sent_once_the_contact_is_there(
    platform: Platform, api_key: str
) -> None:
    from vocation_shared.contracts import events as ev
    from vocation_shared.contracts import payloads as p

    run = uuid.uuid4().hex[:8]
    cid, email = f"cand-{run}-zoe", f"zoe.{run}@example.org"
    match = p.MatchFound(
        match_id=f"m-{run}",
        candidate_id=cid,
        offer_id=f"vac-{run}-early",
        offer_kind="vacancy",
        offer_version=1,
        offer_title="Assistant(e) familial(e) à Nantua",
        rome_code="K1309",
        commune_insee="01269",
        distance_km=3.2,
        score=77,
        reasons=["À 3 km de chez vous", "CDI à temps plein"],
    )
    _publish_raw(platform, ev.MatchFound.build(match, source="urn:vocation:matching", id=f"found.m-{run}"))
    # Looked at once without a contact: deferred (rechecked within 2 s, woken by the contact).
    waiting = (
        "SELECT 1 FROM outbox WHERE recipient_id = $1 AND channel = 'email' AND state = 'pending'"
        " AND not_before > created_at"
    )
    _eventually(
        lambda: bool(_query(platform.databases["notifications"], waiting, cid)),
        "the match waiting for its contact",
        platform,
    )

    person = _candidate(run, "zoe", VALSERHONE, email, None, **_profile("K1309", "DEAF", 1))
    _post(platform, api_key, _event("fr.vocation.candidate.registered.v1", person["id"], person))
    started = time.monotonic()
    _eventually(
        lambda: any("Assistant(e) familial(e) à Nantua" in m["subject"] for m in _mails_to(platform, email)),
        "the email once the contact arrived",
        platform,
        timeout=10,
    )
    assert time.monotonic() - started < 10


# --- erasure asked right after an immersion request ----------------------------------------------


def test_erasure_right_after_an_immersion_request_leaves_nothing_behind(
    platform: Platform, api_key: str
) -> None:
    run = uuid.uuid4().hex[:8]
    host: dict[str, Any] = {
        "id": f"etab-{run}-host",
        "siret": samples.SIRET_EHPAD_BOURG,
        "name": "EHPAD du Haut-Jura",
        "kind": "ehpad",
        "commune_insee": VALSERHONE,
        "immersion_contact_email": f"tutrice.{run}@example.org",
    }
    slot: dict[str, Any] = {
        "id": f"slot-{run}",
        "establishment": {k: host[k] for k in ("id", "siret", "name", "kind")},
        "rome_code": "J1301",
        "title": "Une journée avec les agents de service",
        "commune_insee": VALSERHONE,
        "start_date": "2027-03-01",
        "end_date": "2027-03-05",
        "capacity": 5,
        "places_left": 5,
    }
    people = [
        _candidate(run, f"p{n}", VALSERHONE, f"p{n}.{run}@example.org", None, **_profile("J1301", "DEAS", 5))
        for n in range(3)
    ]
    _post(platform, api_key, _event("fr.vocation.establishment.registered.v1", host["id"], host))
    _post_all(
        platform,
        api_key,
        [_event("fr.vocation.immersion-slot.offered.v1", slot["id"], slot)]
        + [
            _event("fr.vocation.candidate.registered.v1", p["id"], p | {"wants_immersion": True})
            for p in people
        ],
    )
    slot_url = f"{platform.urls['catalogue']}/v1/immersions/{slot['id']}"
    _eventually(
        lambda: httpx.get(slot_url, timeout=5).status_code == 200, "the slot in the catalogue", platform
    )
    for n, person in enumerate(people):
        request = {
            "request_id": f"req-{run}-{n}",
            "slot_id": slot["id"],
            "candidate_id": person["id"],
            "start_date": slot["start_date"],
            "end_date": slot["end_date"],
        }
        withdrawn = {"candidate_id": person["id"], "erasure_requested": True}
        _post(platform, api_key, _event("fr.vocation.immersion.requested.v1", slot["id"], request))
        _post(platform, api_key, _event("fr.vocation.candidate.withdrawn.v1", person["id"], withdrawn))

    db = platform.databases
    _eventually(
        lambda: httpx.get(slot_url, timeout=5).json()["places_left"] == 5, "every place free", platform
    )
    time.sleep(2)  # what would come late (a booking decided after the erasure) has come by now
    assert httpx.get(slot_url, timeout=5).json()["places_left"] == 5
    for person in people:
        cid = person["id"]
        assert not _query(db["catalogue"], "SELECT 1 FROM immersion_bookings WHERE candidate_id = $1", cid)
        assert not _query(db["notifications"], "SELECT 1 FROM contacts WHERE candidate_id = $1", cid)
        left = _query(
            db["events"],
            "SELECT topic, type, subject FROM archived_events WHERE event::text LIKE '%' || $1 || '%'",
            cid,
        )
        assert not left, f"the archive still holds {cid}: {[dict(r) for r in left]}"
