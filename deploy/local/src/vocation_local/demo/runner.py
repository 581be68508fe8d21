"""The demo's run: send the scenario step by step through the gateway, saying what should follow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from vocation_local.demo.gateway import (
    PARIS,
    DemoError,
    Gateway,
    mailbox_ready,
    ready,
    wait_for_slot,
    wait_until_not_open,
)
from vocation_local.demo.loop import play_loop
from vocation_local.demo.narrator import Narrator
from vocation_local.demo.outbox import Outbox, Shown, show_reasons, watch, within_default_sms_window
from vocation_local.demo.partner import obtain_partner
from vocation_local.demo.scenario import Scenario, build_scenario, digest_expectation, expectations

STATE_FILE = "demo-state.json"
SETTLE_S = 3.0


def tidy_previous_run(gateway: Gateway, state_file: Path, narrator: Narrator) -> None:
    """Withdraw (with erasure) the previous run's people and close its offers, so runs do not mix."""
    if not state_file.exists():
        return
    try:
        previous = json.loads(state_file.read_text(encoding="utf-8"))
    except ValueError:
        return
    if previous.get("source") != gateway.source:
        return
    events = [
        gateway.event(
            "fr.vocation.candidate.withdrawn.v1",
            cid,
            {"candidate_id": cid, "erasure_requested": True, "reason": "fin de la démonstration"},
        )
        for cid in previous.get("candidates", [])
    ]
    for vacancy in previous.get("vacancies", []):
        closed = {**vacancy, "status": "closed", "version": int(vacancy["version"]) + 1}
        events.append(gateway.event("fr.vocation.vacancy.closed.v1", closed["id"], closed))
    for slot in previous.get("slots", []):
        closed = {**slot, "status": "closed", "version": int(slot["version"]) + 1}
        events.append(gateway.event("fr.vocation.immersion-slot.closed.v1", closed["id"], closed))
    for training in previous.get("trainings", []):
        closed = {**training, "status": "closed", "version": int(training["version"]) + 1}
        events.append(gateway.event("fr.vocation.training-session.updated.v1", closed["id"], closed))
    if events:
        gateway.publish(events)
        narrator.say(
            f"Tidied up the previous demo run ({previous.get('run')}): its people withdrawn with "
            "erasure, its offers closed, so that this run's e-mails are this run's only."
        )
    state_file.unlink()


def save_state(state_file: Path, s: Scenario, source: str, closed: set[str]) -> None:
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "run": s.run,
        "source": source,
        "candidates": [p.id(s.run) for p in s.people.values()],
        "vacancies": [v for v in s.vacancies.values() if v["id"] not in closed],
        "slots": [s.slot],
        "trainings": [s.training],
    }
    state_file.write_text(json.dumps(state), encoding="utf-8")


def _commune(insee: str) -> str:
    from vocation_shared.reference import communes

    found = communes().get(insee)
    return found.name if found is not None else insee


def play(
    s: Scenario,
    gateway: Gateway,
    catalogue_url: str,
    narrator: Narrator,
    client: httpx.Client,
    state_file: Path,
    outbox: Outbox | None = None,
) -> None:
    """Send the scenario step by step, saying what goes in and what should come out."""
    p = s.people
    v = s.vacancies

    def register(keys: Sequence[str]) -> None:
        events = []
        for key in keys:
            person = p[key]
            narrator.item(f"{person.first_name}: {person.summary}")
            events.append(gateway.event(person.event_type, person.id(s.run), person.registration(s.run)))
        gateway.publish(events)

    def post(keys: Sequence[str]) -> None:
        events = []
        for key in keys:
            vac = v[key]
            narrator.item(
                f"{vac['title']} — {vac['establishment']['name']}, {_commune(vac['commune_insee'])} "
                f"({vac['rome_code']}, {vac['contract_type'].upper()}, début le {vac['start_date']})"
            )
            events.append(gateway.event("fr.vocation.vacancy.posted.v1", vac["id"], vac))
        gateway.publish(events)

    narrator.step("Employers of the Ain and the Landes register their sites")
    narrator.say("event type fr.vocation.establishment.registered.v1, one per site (SIRET, kind, commune):")
    for etab in s.establishments:
        narrator.item(f"{etab['name']} ({etab['kind'].upper()}), {_commune(etab['commune_insee'])}")
    gateway.publish(
        [gateway.event("fr.vocation.establishment.registered.v1", e["id"], e) for e in s.establishments]
    )
    narrator.expect("the catalogue stores them; nobody is told anything yet.")
    narrator.wait()

    narrator.step("People register: job seekers, people in reconversion, apprentices")
    narrator.say("candidate.registered / apprentice.registered, each with a contact and its consent.")
    narrator.say("The gateway splits the contact (e-mail, phone) off to the `candidate-contacts` topic,")
    narrator.say("which only the notifications service reads; matching sees profiles without contacts.")
    register(["martin", "durand", "morel", "lafitte", "girard", "lesca", "petit"])
    narrator.expect("matching indexes them; no offer is open yet, so nobody is told anything.")
    narrator.wait(1.5)

    narrator.step("Vacancies are posted in the Ain (priority métiers, real ROME 4 codes)")
    post(["as-nuit", "ide", "advf", "aes-apprenti"])
    narrator.expect(
        "within a second or two, Léa gets an e-mail and an SMS for the night post in Bourg-en-Bresse "
        "(29 km from home, DEAS held); Sophie an e-mail for the home-care post in Oyonnax (her "
        "experience caring for her mother counts); Nathan, 17, the AES apprenticeship. Nobody "
        "holds the DEI yet: the nurse post waits for its candidate."
    )
    narrator.wait()

    narrator.step("Vacancies are posted in the Landes")
    post(["as-apprenti", "es-fam", "es-mecs", "aes-dax"])
    narrator.expect(
        "Inès gets the apprenticeship in Mont-de-Marsan (49 km from home, at her IFAS's door); Hugo "
        "the AES post in Dax. Thomas matches both éducateur posts, but he chose one e-mail a day: "
        "they wait for his daily digest (at the notifications service's digest hour, 18:00 by default)."
    )
    narrator.wait()

    narrator.step("An IME offers an immersion place; a training institute opens a DEAES session")
    narrator.item(
        f"{s.slot['title']} — IME Les Sources, Oyonnax, {s.slot['start_date']} → {s.slot['end_date']}, "
        "ONE place (immersion-slot.offered)"
    )
    narrator.item(f"{s.training['title']}, Bourg-en-Bresse (training-session.published)")
    gateway.publish(
        [
            gateway.event("fr.vocation.immersion-slot.offered.v1", s.slot["id"], s.slot),
            gateway.event("fr.vocation.training-session.published.v1", s.training["id"], s.training),
        ]
    )
    narrator.expect(
        "Sophie and Julien asked for immersions: both are told about this one. Julien, in "
        "reconversion without the DEAES, is told about the training session."
    )
    narrator.wait()

    narrator.step("Sophie, then Julien, ask for the immersion place")
    if not wait_for_slot(client, catalogue_url, s.slot["id"], 30):
        narrator.say("(the catalogue does not list the slot yet: the requests may be refused)")
    if outbox is not None:
        # They ask once they have read about it (a place booked first would not be proposed).
        told = [e for e in expectations(s) if "Vis ma vie" in e.contains and e.channel == "email"]
        deadline = time.monotonic() + 20
        while not all(outbox.met(e) for e in told) and time.monotonic() < deadline:
            time.sleep(0.2)
    for key in ("durand", "morel"):
        request = {
            "request_id": f"demo-{s.run}-req-{key}",
            "slot_id": s.slot["id"],
            "candidate_id": p[key].id(s.run),
            "start_date": s.slot["start_date"],
            "end_date": s.slot["end_date"],
            "motivation": "Je voudrais découvrir le métier avant de me lancer dans la formation.",
        }
        narrator.item(f"{p[key].first_name} asks (immersion.requested)")
        gateway.publish([gateway.event("fr.vocation.immersion.requested.v1", s.slot["id"], request)])
        narrator.wait(0.5)
    narrator.expect(
        "the catalogue books the only place for Sophie (immersion.booked): she gets a confirmation "
        "by e-mail and SMS, and the IME's tutor an e-mail. Julien came second: his request is "
        "refused (immersion.refused) and he is told why, kindly. A reminder goes out the day before."
    )
    narrator.wait()

    narrator.step("A nurse registers once the offers exist")
    register(["benali"])
    narrator.expect(
        "matching looks for the best open offers for Karim (candidate → offers) and he gets an e-mail "
        "for the nurse post at the Clinique des Quatre Vallées, 29 km away, with the reasons."
    )
    narrator.wait()

    narrator.step("The FAM Les Airials fills its éducateur post before the daily digest")
    filled = {**v["es-fam"], "status": "filled", "posts_filled": 1, "version": 2}
    narrator.item(f"{filled['title']} (vacancy.closed, status filled)")
    gateway.publish([gateway.event("fr.vocation.vacancy.closed.v1", filled["id"], filled)])
    save_state(state_file, s, gateway.source, {filled["id"]})
    narrator.expect(
        "the catalogue stops listing it; matching withdraws its matches (match.withdrawn); "
        "Thomas's digest will only show the MECS post."
    )
    narrator.wait()


def send_digest_now(
    s: Scenario,
    client: httpx.Client,
    catalogue_url: str,
    database_url: str,
    narrator: Narrator,
) -> bool:
    """Thomas's digest, sent now by the operator command rather than at the digest hour."""
    wait_until_not_open(client, catalogue_url, s.vacancies["es-fam"]["id"], 30)
    time.sleep(SETTLE_S)  # matching withdraws the filled post's match, notifications drops it
    env = {**os.environ, "VOCATION_DATABASE_URL": database_url, "VOCATION_LOG_JSON": "false"}
    thomas = s.people["lesca"].id(s.run)
    operator = [sys.executable, "-m", "vocation_notifications.cli"]
    command = [*operator, "digests", "send-now", "--candidate", thomas]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=120)
    if result.returncode != 0:
        narrator.say(f"(the digest could not be sent now: {result.stderr.strip()[-300:]})")
        return False
    return True


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What the command line asked of one demo run."""

    pause_s: float
    events_url: str
    catalogue_url: str
    mailbox_url: str
    sms_file: Path
    events_database_url: str
    notifications_database_url: str
    digest_now: bool
    partner: str
    api_key: str | None
    state_dir: Path
    wait_s: float
    check: bool


def run_demo(args: DemoOptions) -> int:
    """Play the demo against a running platform; 0, or 1 if it stopped (or `check` and something is missing)."""
    narrator = Narrator(args.pause_s)
    out = narrator.out
    with httpx.Client() as client:
        for name, url in (("events gateway", args.events_url), ("catalogue", args.catalogue_url)):
            if not ready(client, url):
                out(f"The {name} does not answer at {url}.")
                out("Start the platform first, in another terminal: make run")
                out("(or point the demo at it: --events-url, --catalogue-url; see --help)")
                return 2
        started_at = datetime.now(UTC)
        sms_file: Path | None = args.sms_file
        mailbox_url: str | None = args.mailbox_url
        if not mailbox_ready(client, args.mailbox_url):
            mailbox_url = None
        outbox = Outbox(client, mailbox_url, sms_file, started_at)
        if sms_file is not None and sms_file.exists():
            outbox.sms_offset = sms_file.stat().st_size
        run = datetime.now(PARIS).strftime("%m%d-%H%M%S")
        scenario = build_scenario(run, datetime.now(PARIS).date())

        narrator.title("Vocation — the platform in action")
        out("A département's platform, a partner of Vocation, sends what happens in the Ain and the")
        out("Landes to the events gateway, as CloudEvents over HTTP. The gateway checks each event")
        out("against its contract and puts it on Kafka; the catalogue, matching and notifications")
        out("services react. Everyone below is fictional; their e-mails land in the local mailbox.")
        out("")
        try:
            key, source = obtain_partner(
                client,
                args.events_url,
                args.events_database_url,
                args.state_dir,
                args.partner,
                args.api_key,
                narrator,
            )
            gateway = Gateway(args.events_url, key, source, client)
            state_file = args.state_dir / STATE_FILE
            tidy_previous_run(gateway, state_file, narrator)
            play(scenario, gateway, args.catalogue_url, narrator, client, state_file, outbox)
        except DemoError as exc:
            out(f"\nThe demo stopped: {exc}")
            return 1
        except httpx.HTTPError as exc:
            out(f"\nThe demo stopped: the platform did not answer ({type(exc).__name__}: {exc}).")
            return 1

        narrator.step("What arrived")
        out(f"  {gateway.sent} events sent. Watching the mailbox and the SMS sink…")
        if mailbox_url is None:
            out(f"  (no mailbox answers at {args.mailbox_url}: e-mails cannot be shown here)")
        if not within_default_sms_window(datetime.now(UTC)):
            out(
                "  It is outside 08:00–21:30 in Paris: SMS wait for the morning (unless configured otherwise)."
            )
        shown = Shown()
        all_arrived = watch(outbox, expectations(scenario), scenario, args.wait_s, narrator, shown)
        show_reasons(outbox, scenario.people["martin"].email, f"demo-{scenario.run}-", narrator)
        if mailbox_url is not None:
            all_arrived = play_loop(scenario, outbox, client, narrator, args.wait_s) and all_arrived
        if args.digest_now:
            narrator.step("An operator sends Thomas's daily digest now, instead of at the digest hour")
            narrator.say(
                "vocation notifications digests send-now --candidate <Thomas's id> (the notifications "
                "service's operator command)"
            )
            narrator.expect(
                "one e-mail gathering the offers held for Thomas: the MECS post, and not the FAM's, "
                "filled since."
            )
            narrator.wait()
            sent = send_digest_now(
                scenario, client, args.catalogue_url, args.notifications_database_url, narrator
            )
            all_arrived = (
                watch(outbox, [digest_expectation(scenario)], scenario, args.wait_s, narrator, shown)
                and sent
                and all_arrived
            )

        out("")
        out("Where to look:")
        out(f"  mailbox     {args.mailbox_url}   every e-mail, in French, with its reasons")
        out(f"  SMS sink    {args.sms_file}   one JSON line per SMS")
        out(
            f"  catalogue   {args.catalogue_url}/v1/offers?departement=01   the open offers (OpenAPI at /docs)"
        )
        out(
            f"  observatory {args.catalogue_url}/v1/observatory?priority=true   posts to fill per "
            "département and métier (format=csv for a spreadsheet)"
        )
        if not args.digest_now:
            out(
                "  Thomas's digest arrives at the digest hour (VOCATION_DIGEST_HOUR, 18:00 by default) "
                "without the filled post; `vocation notifications digests send-now` sends it at once."
            )
        out("  Run `make demo` again: it tidies this run up first, then plays the story anew.")
        if args.check and not all_arrived:
            return 1
    return 0
