"""The platform as its users see it: events in at the gateway, emails and SMS out, every service a process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from vocation_local.e2e import Platform
from vocation_shared.testing import samples

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SOURCE = "urn:partner:e2e-departement-ain"


@pytest.fixture(scope="module")
def api_key(platform: Platform) -> str:
    """A partner allowed every event type, created with the operator CLI."""
    name = f"e2e-{uuid.uuid4().hex[:6]}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vocation_shared.cli",
            "partners",
            "create",
            name,
            "--source",
            SOURCE,
            "--allow",
            "*",
        ],
        env=platform.environments["events"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.strip().splitlines()[-1]


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


def _mails_to(platform: Platform, address: str) -> list[dict[str, Any]]:
    messages = httpx.get(f"{platform.mailbox_url}/api/messages", timeout=10).json()
    return [m for m in messages if address in m["to"]]


def _sms_to(platform: Platform, phone: str) -> list[dict[str, Any]]:
    if not platform.sms_file.exists():
        return []
    lines = platform.sms_file.read_text(encoding="utf-8").splitlines()
    return [sms for sms in map(json.loads, lines) if sms["to"] == phone]


def _eventually(check: Callable[[], bool], what: str, platform: Platform, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {n}\n{platform.log(n)[-1500:]}" for n in ("matching", "notifications"))
            raise AssertionError(f"{what} did not happen within {timeout} s\n{logs}")
        time.sleep(0.25)


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

    _eventually(lambda: bool(_mails_to(platform, near_email)), "the email to the nearby candidate", platform)
    mail = _mails_to(platform, near_email)[0]
    assert "Aide-soignant" in mail["subject"] + mail["text"]
    assert "29 km" in mail["text"], mail["text"]
    assert "List-Unsubscribe" in mail["headers"]
    _eventually(lambda: bool(_sms_to(platform, near_phone)), "the SMS to the nearby candidate", platform)
    assert "STOP" in _sms_to(platform, near_phone)[0]["text"]

    time.sleep(3)  # whatever the far candidate would get would have come by now
    assert _mails_to(platform, far_email) == []
    assert len(_mails_to(platform, near_email)) == 1


def test_immersion_requested_is_booked_and_both_sides_are_told(platform: Platform, api_key: str) -> None:
    run = uuid.uuid4().hex[:8]
    tutor_email = f"tuteur.{run}@ehpad-tilleuls.example.org"
    establishment = {
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
    slot = {
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
    request = {
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
