"""`make demo` against the whole platform: the scenario runs through the gateway and people are told."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from vocation_local.demo import build_scenario, expectations
from vocation_local.e2e import Platform

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SCENARIO = build_scenario("any", date(2026, 12, 1))


def _demo(platform: Platform, state_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "vocation_local", "demo", "--fast", "--check", "--wait", "45"]
    command += ["--events-url", platform.urls["events"], "--catalogue-url", platform.urls["catalogue"]]
    command += ["--mailbox-url", platform.mailbox_url, "--sms-file", str(platform.sms_file)]
    command += ["--events-database-url", platform.databases["events"], "--state-dir", str(state_dir)]
    command += ["--notifications-database-url", platform.databases["notifications"]]
    return subprocess.run([*command, *extra], capture_output=True, text=True, timeout=240, check=False)


def _mails_to(platform: Platform, address: str) -> list[dict[str, Any]]:
    messages = httpx.get(f"{platform.mailbox_url}/api/messages", timeout=10).json()
    return [m for m in messages if address in m["to"]]


def test_every_payload_of_the_scenario_meets_its_contract() -> None:
    from vocation_shared.contracts import payloads as p

    for person in SCENARIO.people.values():
        p.CandidateRegistration.model_validate(person.registration("any"))
        assert person.email.endswith(".example"), "fictional people use a reserved domain"
        assert person.phone is None or person.phone.startswith("+3363998"), "ARCEP's fiction range"
    for establishment in SCENARIO.establishments:
        p.Establishment.model_validate(establishment)
    for vacancy in SCENARIO.vacancies.values():
        p.Vacancy.model_validate(vacancy)
    p.ImmersionSlot.model_validate(SCENARIO.slot)
    p.TrainingSession.model_validate(SCENARIO.training)
    communes = {e["commune_insee"] for e in SCENARIO.establishments}
    assert {c[:2] for c in communes} == {"01", "40"}, "the Ain and the Landes"


def test_the_demo_plays_its_scenario_and_people_are_told(platform: Platform, tmp_path: Path) -> None:
    done = _demo(platform, tmp_path)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    shown = done.stdout
    print(shown)  # the narration, for -rP
    assert "Not arrived" not in shown
    assert platform.mailbox_url in shown
    assert str(platform.sms_file) in shown
    # The narration names people; it never prints their addresses or phone numbers.
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", shown), "an e-mail address in the narration"
    assert not re.search(r"\+33\d{9}", shown), "a phone number in the narration"

    lea = SCENARIO.people["martin"]
    # Other tests' offers may reach the demo's people too: the one of the demo's night post.
    (offer,) = [
        m
        for m in _mails_to(platform, lea.email)
        if m["subject"].startswith("Nouvelle offre pour vous") and "EHPAD Les Glycines" in m["text"]
    ]
    assert offer["text"].startswith(f"Bonjour {lea.first_name},"), (
        "greeted by the first name the partner gave"
    )
    assert "Pourquoi nous vous la proposons" in offer["text"]
    assert "À 29 km de chez vous" in offer["text"]
    assert "Diplôme d'État d'aide-soignant" in offer["text"] or "DEAS" in offer["text"]

    # The loop: Léa says yes, the EHPAD's recruiter receives her, proposes an exchange, hires her;
    # Inès says « Pas pour moi ». The narration prints the links it clicks.
    assert "the loop stopped" not in shown
    assert re.search(r"opens http://127\.0\.0\.1:\d+/l/[A-Za-z0-9_-]+", shown)
    (received,) = [
        m
        for m in _mails_to(platform, SCENARIO.recruiter_email)
        if m["subject"].startswith("Nouvelle candidature")
    ]
    assert f"Prénom : {lea.first_name}" in received["text"]
    assert lea.email in received["text"], "Léa chose to share her e-mail address"
    assert lea.phone is not None and lea.phone not in received["text"], "and not her phone"
    lea_subjects = [m["subject"] for m in _mails_to(platform, lea.email)]
    assert any(s.startswith("L'établissement vous propose un échange") for s in lea_subjects), lea_subjects
    assert any(s.startswith("Félicitations") for s in lea_subjects), lea_subjects

    sophie = SCENARIO.people["durand"]
    subjects = [m["subject"] for m in _mails_to(platform, sophie.email)]
    assert any(s.startswith("Votre immersion est confirmée") for s in subjects), subjects
    home_care = next(m for m in _mails_to(platform, sophie.email) if "Assistant(e) de vie" in m["subject"])
    assert "Votre expérience d'aidant auprès d'un proche compte pour ce métier" in home_care["text"]
    assert any(
        m["subject"].startswith("Immersion réservée") for m in _mails_to(platform, SCENARIO.tutor_email)
    )
    julien = SCENARIO.people["morel"]
    assert any("n'a pas pu être acceptée" in m["subject"] for m in _mails_to(platform, julien.email))

    # Thomas chose a daily digest: one e-mail, sent at the end by the operator command, without
    # the post filled before it.
    (digest,) = _mails_to(platform, SCENARIO.people["lesca"].email)
    assert digest["subject"] == "1 nouvelle offre pour vous aujourd'hui"
    assert SCENARIO.vacancies["es-mecs"]["title"] in digest["text"]
    assert SCENARIO.vacancies["es-fam"]["title"] not in digest["text"]
    assert len(expectations(SCENARIO)) >= 10

    # A second run tidies the first one up and plays again with the same partner (its key was kept).
    again = _demo(platform, tmp_path, "--wait", "30", "--no-digest-now")
    print(again.stdout)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    assert "from an earlier run" in again.stdout
    assert "Tidied up the previous demo run" in again.stdout
