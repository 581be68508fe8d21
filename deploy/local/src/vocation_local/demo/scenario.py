"""`make demo`: a partner feeds a realistic scenario through the gateway of a running platform, narrated.

Employers of the Ain and the Landes (real communes, fictional names) register their sites and
post vacancies for the sector's priority métiers; job seekers, people in reconversion and
apprentices register with their contact and consent; an IME offers an immersion place that two
people ask for; a training institute opens a DEAES session; a new candidate arrives once the
offers exist; an employer fills a post before the daily digest. Every event goes through the
gateway's public HTTP API, as a partner's system would send it. The demo then watches the
mailbox and the SMS sink and shows what arrived.

Every person, address and phone number is fictional: e-mail addresses are under the reserved
`.example` top-level domain (RFC 2606) and mobile numbers in the 06 39 98 range ARCEP keeps for
fiction. The terminal shows people's first names, never their addresses or numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from vocation_local.paths import default_run_dir

PARIS = ZoneInfo("Europe/Paris")
DEFAULT_PARTNER = "demo-ain-landes"  # "vocation-demo" of earlier runs has a source now reserved
DEFAULT_SOURCE = "urn:partner:demo-departements-ain-landes"  # urn:vocation: is reserved for the services
PARTNER_FILE = "demo-partner.json"
STATE_FILE = "demo-state.json"
MAIL_DOMAIN = "courriel.example"
SETTLE_S = 3.0

# Communes (INSEE codes from the reference data).
BOURG_EN_BRESSE = "01053"
AMBERIEU_EN_BUGEY = "01004"
OYONNAX = "01283"
MONT_DE_MARSAN = "40192"
DAX = "40088"

# ------------------------------------------------------------------------------------------------
# Narration
# ------------------------------------------------------------------------------------------------


@dataclass
class Narrator:
    """Prints the story; pauses between steps unless told to go fast."""

    pause_s: float
    out: Callable[[str], None] = print
    step_number: int = 0

    def title(self, text: str) -> None:
        self.out("")
        self.out(text)
        self.out("=" * len(text))

    def step(self, text: str) -> None:
        self.step_number += 1
        self.out("")
        heading = f"Step {self.step_number}. {text}"
        self.out(heading)
        self.out("-" * len(heading))

    def say(self, text: str = "") -> None:
        self.out(f"  {text}" if text else "")

    def item(self, text: str) -> None:
        self.out(f"    • {text}")

    def expect(self, text: str) -> None:
        self.out(f"  → what should happen: {text}")

    def wait(self, factor: float = 1.0) -> None:
        if self.pause_s > 0:
            time.sleep(self.pause_s * factor)


# ------------------------------------------------------------------------------------------------
# The scenario: who and what
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """A fictional candidate: how the demo speaks of them, and their registration."""

    key: str
    first_name: str
    summary: str
    event_type: str
    profile: dict[str, Any]
    email: str
    phone: str | None = None
    digest: str = "instant"

    def registration(self, run: str) -> dict[str, Any]:
        """The registration payload, with the contact the gateway will split off."""
        contact: dict[str, Any] = {
            "first_name": self.first_name,
            "email": self.email,
            "channels": ["email", "sms"] if self.phone else ["email"],
            "digest": self.digest,
        }
        if self.phone:
            contact["phone"] = self.phone
        return {"id": self.id(run), **self.profile, "contact": contact, "version": 1}

    def id(self, run: str) -> str:
        return f"demo-{run}-cand-{self.key}"


@dataclass(frozen=True)
class Expectation:
    """Something the newcomer should see arrive: an e-mail or SMS to someone, about something."""

    who: str
    channel: str  # "email" | "sms"
    address: str
    contains: str
    what: str


@dataclass
class Scenario:
    """Every payload of one run, built from the run id and today's date."""

    run: str
    today: date
    establishments: list[dict[str, Any]] = field(default_factory=list)
    people: dict[str, Person] = field(default_factory=dict)
    vacancies: dict[str, dict[str, Any]] = field(default_factory=dict)
    slot: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    tutor_email: str = ""

    def day(self, offset: int) -> str:
        return (self.today + timedelta(days=offset)).isoformat()


def _establishment(
    run: str, key: str, siret: str, name: str, kind: str, commune: str, **extra: Any
) -> dict[str, Any]:
    return {
        "id": f"demo-{run}-etab-{key}",
        "siret": siret,
        "name": name,
        "kind": kind,
        "commune_insee": commune,
        **extra,
        "version": 1,
    }


def _ref(establishment: dict[str, Any]) -> dict[str, Any]:
    return {k: establishment[k] for k in ("id", "siret", "name", "kind")}


def build_scenario(run: str, today: date) -> Scenario:
    """The establishments, people and offers of one demo run (ids carry the run id)."""
    s = Scenario(run, today)
    s.tutor_email = "claire.mercier@ime-les-sources.example"
    glycines = _establishment(
        run,
        "glycines",
        "90101000100013",
        "EHPAD Les Glycines",
        "ehpad",
        BOURG_EN_BRESSE,
        employer_name="Association Bresse Grand Âge",
        address="12 rue des Tisserands",
    )
    clinique = _establishment(
        run, "quatre-vallees", "90101000200011", "Clinique des Quatre Vallées", "clinique", AMBERIEU_EN_BUGEY
    )
    ime = _establishment(
        run,
        "sources",
        "90101000300019",
        "IME Les Sources",
        "ime",
        OYONNAX,
        employer_name="Association Haut-Bugey Solidarité",
        immersion_contact_email=s.tutor_email,
    )
    saad_bugey = _establishment(
        run, "saad-bugey", "90101000400017", "Haut-Bugey Entraide à domicile", "saad", OYONNAX
    )
    pins = _establishment(run, "pins", "90401000100017", "EHPAD Les Pins de l'Adour", "ehpad", MONT_DE_MARSAN)
    airials = _establishment(run, "airials", "90401000200015", "FAM Les Airials", "fam", DAX)
    saad_dax = _establishment(run, "saad-dax", "90401000300013", "Côte d'Argent Domicile", "saad", DAX)
    chene = _establishment(
        run, "grand-chene", "90101000500014", "MECS Le Grand Chêne", "mecs", MONT_DE_MARSAN
    )
    s.establishments = [glycines, clinique, ime, saad_bugey, pins, airials, saad_dax, chene]

    def person(key: str, first: str, summary: str, profile: dict[str, Any], **contact: Any) -> None:
        event_type = (
            "fr.vocation.apprentice.registered.v1"
            if profile["kind"] == "apprentice"
            else "fr.vocation.candidate.registered.v1"
        )
        plain = unicodedata.normalize("NFKD", first.lower()).encode("ascii", "ignore").decode()
        email = f"{plain}.{key}@{MAIL_DOMAIN}"
        s.people[key] = Person(key, first, summary, event_type, profile, email, **contact)

    base = {
        "accepts_close_metiers": False,
        "available_from": s.day(0),
        "working_times": ["full_time"],
        "driving_licence": True,
        "has_vehicle": True,
    }
    person(
        "martin",
        "Léa",
        "aide-soignante diplômée (DEAS), Ambérieu-en-Bugey, accepte les nuits ; e-mail et SMS",
        base
        | {
            "kind": "job_seeker",
            "wanted_rome_codes": ["J1501"],
            "diplomas": ["DEAS"],
            "experience": [{"rome_code": "J1501", "months": 30}],
            "home_commune_insee": AMBERIEU_EN_BUGEY,
            "mobility_radius_km": 40,
            "contract_types": ["cdi", "cdd"],
            "accepts_night": True,
            "accepts_weekend": True,
            "birth_year": 1994,
        },
        phone="+33639980101",
    )
    person(
        "durand",
        "Sophie",
        "en reconversion (ancienne vendeuse) vers l'accompagnement à domicile, a aidé sa mère, "
        "Oyonnax, veut découvrir le métier en immersion ; e-mail et SMS",
        base
        | {
            "kind": "reconversion",
            "wanted_rome_codes": ["K1306", "K1311"],
            "life_experience": ["caring_for_relative"],
            "wants_immersion": True,
            "home_commune_insee": OYONNAX,
            "mobility_radius_km": 30,
            "contract_types": ["cdi", "cdd"],
            "working_times": ["full_time", "part_time"],
            "accepts_weekend": True,
            "birth_year": 1981,
        },
        phone="+33639980102",
    )
    person(
        "morel",
        "Julien",
        "en reconversion vers le métier d'AES, Bourg-en-Bresse, veut une immersion et une formation ; e-mail",
        base
        | {
            "kind": "reconversion",
            "wanted_rome_codes": ["K1306"],
            "wants_immersion": True,
            "home_commune_insee": BOURG_EN_BRESSE,
            "mobility_radius_km": 40,
            "contract_types": ["cdi", "cdd"],
            "birth_year": 1988,
        },
    )
    person(
        "lafitte",
        "Inès",
        "18 ans, apprentie aide-soignante admise à l'IFAS de Mont-de-Marsan, habite Dax ; e-mail et SMS",
        base
        | {
            "kind": "apprentice",
            "wanted_rome_codes": ["J1501"],
            "home_commune_insee": DAX,
            "mobility_radius_km": 60,
            "contract_types": ["apprentissage"],
            "accepts_weekend": True,
            "birth_year": 2008,
            "driving_licence": False,
            "has_vehicle": False,
            "apprenticeship": {
                "school_name": "IFAS des Landes",
                "school_commune_insee": MONT_DE_MARSAN,
                "diploma_prepared": "DEAS",
                "programme_start": s.day(30),
                "max_distance_from_school_km": 30,
            },
        },
        phone="+33639980104",
    )
    person(
        "girard",
        "Nathan",
        "17 ans, apprenti AES à l'institut de formation de Bourg-en-Bresse ; e-mail",
        base
        | {
            "kind": "apprentice",
            "wanted_rome_codes": ["K1306"],
            "home_commune_insee": BOURG_EN_BRESSE,
            "mobility_radius_km": 20,
            "contract_types": ["apprentissage"],
            "accepts_weekend": True,
            "birth_year": 2009,
            "driving_licence": False,
            "has_vehicle": False,
            "apprenticeship": {
                "school_name": "Institut de formation sociale des Pays de l'Ain",
                "school_commune_insee": BOURG_EN_BRESSE,
                "diploma_prepared": "DEAES",
                "programme_start": s.day(30),
                "max_distance_from_school_km": 25,
            },
        },
    )
    person(
        "lesca",
        "Thomas",
        "éducateur spécialisé diplômé (DEES), Mont-de-Marsan ; a choisi un récapitulatif par jour",
        base
        | {
            "kind": "job_seeker",
            "wanted_rome_codes": ["K1207"],
            "diplomas": ["DEES"],
            "experience": [{"rome_code": "K1207", "months": 60}],
            "home_commune_insee": MONT_DE_MARSAN,
            "mobility_radius_km": 60,
            "contract_types": ["cdi"],
            "accepts_weekend": True,
            "birth_year": 1985,
        },
        digest="daily",
    )
    person(
        "petit",
        "Hugo",
        "accompagnant éducatif et social (DEAES), Dax, cherche des CDD ou remplacements ; e-mail et SMS",
        base
        | {
            "kind": "replacement_staff",
            "wanted_rome_codes": ["K1306"],
            "diplomas": ["DEAES"],
            "experience": [{"rome_code": "K1306", "months": 14}],
            "home_commune_insee": DAX,
            "mobility_radius_km": 25,
            "contract_types": ["cdd", "remplacement"],
            "working_times": ["full_time", "part_time"],
            "accepts_weekend": True,
            "birth_year": 1997,
        },
        phone="+33639980106",
    )
    person(
        "benali",
        "Karim",
        "infirmier diplômé d'État (DEI), Bourg-en-Bresse, s'inscrit après la publication des offres ; e-mail",
        base
        | {
            "kind": "job_seeker",
            "wanted_rome_codes": ["J1506"],
            "diplomas": ["DEI"],
            "experience": [{"rome_code": "J1506", "months": 84}],
            "home_commune_insee": BOURG_EN_BRESSE,
            "mobility_radius_km": 35,
            "contract_types": ["cdi", "cdd"],
            "accepts_weekend": True,
            "birth_year": 1979,
        },
    )

    def vacancy(key: str, at: dict[str, Any], **fields: Any) -> None:
        s.vacancies[key] = {
            "id": f"demo-{run}-vac-{key}",
            "establishment": _ref(at),
            "commune_insee": at["commune_insee"],
            "working_time": "full_time",
            "posts": 1,
            "status": "open",
            "version": 1,
            **fields,
        }

    vacancy(
        "as-nuit",
        glycines,
        rome_code="J1501",
        title="Aide-soignant(e) de nuit",
        description="Accompagnement des résidents la nuit dans une équipe de quatre ; tutorat à l'arrivée.",
        contract_type="cdi",
        schedule={"night": True, "weekend": True, "hours_per_week": 35},
        start_date=s.day(14),
        required_diploma="DEAS",
        salary_monthly_gross_eur=2150,
    )
    vacancy(
        "ide",
        clinique,
        rome_code="J1506",
        title="Infirmier(ère) en soins de suite et de réadaptation",
        contract_type="cdi",
        schedule={"weekend": True, "hours_per_week": 35},
        start_date=s.day(21),
        required_diploma="DEI",
    )
    vacancy(
        "advf",
        saad_bugey,
        rome_code="K1311",
        title="Assistant(e) de vie aux familles à domicile",
        description="Aide aux gestes du quotidien chez des personnes âgées du Haut-Bugey ; véhicule de service.",
        contract_type="cdd",
        end_date=s.day(200),
        working_time="part_time",
        schedule={"weekend": True, "hours_per_week": 24},
        start_date=s.day(10),
        driving_licence_required=True,
    )
    vacancy(
        "aes-apprenti",
        glycines,
        rome_code="K1306",
        title="Accompagnant(e) éducatif et social en apprentissage",
        contract_type="apprentissage",
        end_date=s.day(30 + 540),
        schedule={"weekend": True, "hours_per_week": 35},
        start_date=s.day(30),
        required_diploma="DEAES",
    )
    vacancy(
        "as-apprenti",
        pins,
        rome_code="J1501",
        title="Aide-soignant(e) en apprentissage",
        contract_type="apprentissage",
        end_date=s.day(30 + 365),
        schedule={"weekend": True, "hours_per_week": 35},
        start_date=s.day(30),
        required_diploma="DEAS",
        housing_offered=True,
    )
    vacancy(
        "es-fam",
        airials,
        rome_code="K1207",
        title="Éducateur(rice) spécialisé(e) en foyer d'accueil médicalisé",
        contract_type="cdi",
        schedule={"weekend": True, "hours_per_week": 35},
        start_date=s.day(20),
        required_diploma="DEES",
    )
    vacancy(
        "es-mecs",
        chene,
        rome_code="K1207",
        title="Éducateur(rice) spécialisé(e) en maison d'enfants",
        contract_type="cdi",
        schedule={"weekend": True, "hours_per_week": 35},
        start_date=s.day(25),
        required_diploma="DEES",
    )
    vacancy(
        "aes-dax",
        saad_dax,
        rome_code="K1306",
        title="Accompagnant(e) éducatif et social à domicile",
        contract_type="cdd",
        end_date=s.day(120),
        working_time="part_time",
        schedule={"weekend": True, "hours_per_week": 28},
        start_date=s.day(7),
        required_diploma="DEAES",
    )
    s.slot = {
        "id": f"demo-{run}-slot-ime",
        "establishment": _ref(ime),
        "rome_code": "K1306",
        "title": "Vis ma vie d'AES en IME",
        "description": "Une semaine aux côtés de l'équipe éducative d'un institut médico-éducatif.",
        "commune_insee": OYONNAX,
        "start_date": s.day(7),
        "end_date": s.day(11),
        "capacity": 1,
        "places_left": 1,
        "tutor_name": "Claire Mercier",
        "status": "open",
        "version": 1,
    }
    s.training = {
        "id": f"demo-{run}-trn-deaes",
        "provider_siret": "90101000500014",
        "provider_name": "Institut de formation sociale des Pays de l'Ain",
        "title": "Diplôme d'État d'accompagnant éducatif et social (DEAES), session de printemps",
        "rome_code": "K1306",
        "diploma": "DEAES",
        "commune_insee": BOURG_EN_BRESSE,
        "start_date": s.day(60),
        "end_date": s.day(60 + 330),
        "application_deadline": s.day(45),
        "places": 20,
        "places_left": 20,
        "apprenticeship_possible": True,
        "status": "open",
        "version": 1,
    }
    return s


def expectations(s: Scenario) -> list[Expectation]:
    """What the newcomer should see arrive, now (Thomas's digest comes at the digest hour)."""
    p = s.people

    def email(key: str, contains: str, what: str) -> Expectation:
        return Expectation(p[key].first_name, "email", p[key].email, contains, what)

    def sms(key: str, contains: str, what: str) -> Expectation:
        phone = p[key].phone
        assert phone is not None
        return Expectation(p[key].first_name, "sms", phone, contains, what)

    return [
        email("martin", "Aide-soignant(e) de nuit", "the night aide-soignant post in Bourg-en-Bresse"),
        sms("martin", "Aide-soignant(e) de nuit", "the same offer by SMS"),
        email("durand", "Assistant(e) de vie aux familles", "the home-care post in Oyonnax"),
        email("durand", "Nouvelle offre pour vous : Vis ma vie", "the immersion at the IME Les Sources"),
        email("morel", "Nouvelle offre pour vous : Vis ma vie", "the same immersion"),
        email("durand", "Votre immersion est confirmée", "her immersion confirmation"),
        sms("durand", "immersion confirmée", "the confirmation by SMS"),
        Expectation("the IME's tutor", "email", s.tutor_email, "Immersion réservée", "the host's notice"),
        email("morel", "Diplôme d'État d'accompagnant", "the DEAES training session"),
        email("morel", "n'a pas pu être acceptée", "the immersion refused: the only place was taken"),
        email("lafitte", "Aide-soignant(e) en apprentissage", "the apprenticeship in Mont-de-Marsan"),
        email("girard", "en apprentissage", "the AES apprenticeship in Bourg-en-Bresse"),
        email("petit", "Accompagnant(e) éducatif et social à domicile", "the AES post in Dax"),
        email("benali", "Infirmier(ère)", "the nurse post at Ambérieu, as soon as he registered"),
    ]


# ------------------------------------------------------------------------------------------------
# The partner and its API key
# ------------------------------------------------------------------------------------------------


class DemoError(Exception):
    """The demo cannot go on; the message says what to do."""


@dataclass
class Gateway:
    """The events gateway, as the demo partner sees it."""

    url: str
    key: str
    source: str
    client: httpx.Client
    sent: int = 0

    def event(self, event_type: str, subject: str, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "specversion": "1.0",
            "id": f"demo-{uuid.uuid4().hex}",
            "source": self.source,
            "type": event_type,
            "subject": subject,
            "time": datetime.now(PARIS).isoformat(timespec="milliseconds"),
            "datacontenttype": "application/json",
            "data": data,
        }

    def publish(self, events: Sequence[dict[str, Any]]) -> None:
        """Send events in one batch; every one must be accepted."""
        answer = self.client.post(
            f"{self.url}/v1/events/batch",
            content=json.dumps(list(events)),
            headers={
                "Authorization": f"Bearer {self.key}",
                "Content-Type": "application/cloudevents-batch+json",
            },
            timeout=30,
        )
        if answer.status_code != 202:
            raise DemoError(f"the gateway answered {answer.status_code}: {answer.text[:500]}")
        results = answer.json().get("results", [])
        refused = [r for r in results if r.get("status") != "accepted"]
        if refused:
            raise DemoError(f"the gateway did not accept every event: {json.dumps(refused)[:800]}")
        self.sent += len(events)


def _key_works(client: httpx.Client, events_url: str, key: str) -> bool:
    answer = client.post(
        f"{events_url}/v1/events/batch",
        content="[]",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/cloudevents-batch+json"},
        timeout=10,
    )
    return answer.status_code != 401


def _partner_cli(args: list[str], database_url: str) -> str:
    env = {**os.environ, "VOCATION_DATABASE_URL": database_url, "VOCATION_LOG_JSON": "false"}
    result = subprocess.run(
        [sys.executable, "-m", "vocation_shared.cli", "partners", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise DemoError(result.stderr.strip()[-800:] or f"vocation partners {args[0]} failed")
    return result.stdout.strip().splitlines()[-1]


def obtain_partner(
    client: httpx.Client,
    events_url: str,
    database_url: str,
    state_dir: Path,
    name: str,
    given_key: str | None,
    narrator: Narrator,
) -> tuple[str, str]:
    """The demo partner's (API key, source): given, remembered from an earlier run, or created now."""
    if given_key:
        return given_key, DEFAULT_SOURCE
    saved = state_dir / PARTNER_FILE
    if saved.exists():
        known = json.loads(saved.read_text(encoding="utf-8"))
        if known.get("name") == name and _key_works(client, events_url, known["key"]):
            narrator.say(f"Partner «{name}» from an earlier run (its key is kept in {saved}).")
            return str(known["key"]), str(known["source"])
    try:
        key = _partner_cli(["create", name, "--source", DEFAULT_SOURCE, "--allow", "*"], database_url)
        narrator.say(
            f"Created the partner «{name}» with the operator CLI "
            f"(vocation partners create {name} --source {DEFAULT_SOURCE} --allow '*')."
        )
    except DemoError as exc:
        if "exists already" not in str(exc):
            raise
        key = _partner_cli(["rotate-key", name], database_url)
        narrator.say(f"The partner «{name}» exists: gave it a new API key (vocation partners rotate-key).")
    state_dir.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps({"name": name, "key": key, "source": DEFAULT_SOURCE}), encoding="utf-8")
    saved.chmod(0o600)
    return key, DEFAULT_SOURCE


# ------------------------------------------------------------------------------------------------
# Watching what arrives
# ------------------------------------------------------------------------------------------------


@dataclass
class Outbox:
    """What arrived since the demo started: e-mails in the mailbox, SMS in the sink file."""

    client: httpx.Client
    mailbox_url: str | None
    sms_file: Path | None
    started_at: datetime
    sms_offset: int = 0

    def emails(self) -> list[dict[str, Any]]:
        if self.mailbox_url is None:
            return []
        try:
            messages = self.client.get(f"{self.mailbox_url}/api/messages", timeout=10).json()
        except (httpx.HTTPError, ValueError):
            return []
        return [m for m in messages if datetime.fromisoformat(str(m["received_at"])) >= self.started_at]

    def sms(self) -> list[dict[str, Any]]:
        if self.sms_file is None or not self.sms_file.exists():
            return []
        with self.sms_file.open("rb") as handle:
            handle.seek(self.sms_offset)
            lines = handle.read().decode("utf-8", errors="replace").splitlines()
        found = []
        for line in lines:
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
        return found

    def met(self, expectation: Expectation) -> bool:
        if expectation.channel == "email":
            return any(
                expectation.address in m["to"] and expectation.contains in m["subject"] + m["text"]
                for m in self.emails()
            )
        return any(
            s.get("to") == expectation.address and expectation.contains in str(s.get("text", ""))
            for s in self.sms()
        )


def _within_default_sms_window(now: datetime) -> bool:
    local = now.astimezone(PARIS).time()
    return (8, 0) <= (local.hour, local.minute) < (21, 30)


# ------------------------------------------------------------------------------------------------
# The story
# ------------------------------------------------------------------------------------------------


def _wait_for_slot(client: httpx.Client, catalogue_url: str, slot_id: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.get(f"{catalogue_url}/v1/immersions/{slot_id}", timeout=5).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def _tidy_previous_run(gateway: Gateway, state_file: Path, narrator: Narrator) -> None:
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


def _save_state(state_file: Path, s: Scenario, source: str, closed: set[str]) -> None:
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
    if not _wait_for_slot(client, catalogue_url, s.slot["id"], 30):
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
    _save_state(state_file, s, gateway.source, {filled["id"]})
    narrator.expect(
        "the catalogue stops listing it; matching withdraws its matches (match.withdrawn); "
        "Thomas's digest will only show the MECS post."
    )
    narrator.wait()


@dataclass
class Shown:
    """What the terminal already showed of the mailbox and the SMS sink."""

    mails: set[str] = field(default_factory=set)
    sms: int = 0


def watch(
    outbox: Outbox,
    wanted: list[Expectation],
    s: Scenario,
    timeout: float,
    narrator: Narrator,
    shown: Shown,
) -> bool:
    """Show what arrives until everything expected did, or `timeout`; whether it all arrived."""
    names = {p.email: p.first_name for p in s.people.values()}
    names |= {p.phone: p.first_name for p in s.people.values() if p.phone}
    names[s.tutor_email] = "the IME's tutor"
    deadline = time.monotonic() + timeout
    while True:
        for mail in outbox.emails():
            ident = str(mail.get("message_id") or mail["number"])
            recipients = [names[a] for a in mail["to"] if a in names]
            if ident in shown.mails or not recipients:
                continue
            shown.mails.add(ident)
            narrator.say(f"e-mail to {', '.join(recipients):<16} « {mail['subject']} »")
        texts = [m for m in outbox.sms() if m.get("to") in names]
        for text in texts[shown.sms :]:
            narrator.say(f"SMS    to {names[str(text['to'])]:<16} « {text.get('text', '')} »")
        shown.sms = len(texts)
        missing = [e for e in wanted if not outbox.met(e)]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if missing:
        narrator.say("")
        narrator.say("Not arrived (yet):")
        for e in missing:
            narrator.item(f"{e.channel} to {e.who}: {e.what}")
    return not missing


def send_digest_now(
    s: Scenario,
    client: httpx.Client,
    catalogue_url: str,
    database_url: str,
    narrator: Narrator,
) -> bool:
    """Thomas's digest, sent now by the operator command rather than at the digest hour."""
    filled = s.vacancies["es-fam"]["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            answer = client.get(f"{catalogue_url}/v1/offers/{filled}", timeout=5)
            if answer.status_code == 200 and answer.json().get("status") != "open":
                break
        time.sleep(0.2)
    time.sleep(SETTLE_S)  # matching withdraws the filled post's match, notifications drops it
    env = {**os.environ, "VOCATION_DATABASE_URL": database_url, "VOCATION_LOG_JSON": "false"}
    command = [sys.executable, "-m", "vocation_notifications.cli", "digests", "send-now"]
    result = subprocess.run(
        [*command, "--candidate", s.people["lesca"].id(s.run)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        narrator.say(f"(the digest could not be sent now: {result.stderr.strip()[-300:]})")
        return False
    return True


def digest_expectation(s: Scenario) -> Expectation:
    """Thomas's digest: the MECS post, not the FAM's filled one."""
    thomas = s.people["lesca"]
    return Expectation(
        thomas.first_name, "email", thomas.email, s.vacancies["es-mecs"]["title"], "his daily digest"
    )


def _show_reasons(outbox: Outbox, address: str, run: str, narrator: Narrator) -> None:
    for mail in outbox.emails():
        if (
            address in mail["to"]
            and "Pourquoi nous vous la proposons" in mail["text"]
            and run in mail["text"]
        ):
            narrator.say("")
            narrator.say("One of them, in full (what Léa reads):")
            for line in mail["text"].split("\n--\n")[0].strip().splitlines():
                narrator.say(f"  | {line}")
            return


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The demo's command line; every option has a `VOCATION_DEMO_*` environment default."""
    postgres_port = _env("VOCATION_POSTGRES_PORT", "5432")
    run_dir = default_run_dir()
    parser = argparse.ArgumentParser(
        prog="vocation-infra demo",
        description="Feed a realistic scenario through the gateway of a running platform (make run).",
    )
    parser.add_argument("--fast", action="store_true", help="no pauses between the steps")
    parser.add_argument(
        "--pause", type=float, default=float(_env("VOCATION_DEMO_PAUSE", "4")), help="seconds between steps"
    )
    parser.add_argument("--events-url", default=_env("VOCATION_DEMO_EVENTS_URL", "http://127.0.0.1:8080"))
    parser.add_argument(
        "--catalogue-url", default=_env("VOCATION_DEMO_CATALOGUE_URL", "http://127.0.0.1:8081")
    )
    parser.add_argument("--mailbox-url", default=_env("VOCATION_DEMO_MAILBOX_URL", "http://127.0.0.1:8025"))
    parser.add_argument(
        "--sms-file", type=Path, default=Path(_env("VOCATION_DEMO_SMS_FILE", str(run_dir / "sms.jsonl")))
    )
    parser.add_argument(
        "--events-database-url",
        default=_env(
            "VOCATION_DEMO_EVENTS_DATABASE_URL", f"postgresql://postgres@127.0.0.1:{postgres_port}/events"
        ),
        help="the gateway's database, to create the demo partner with the operator CLI",
    )
    parser.add_argument(
        "--notifications-database-url",
        default=_env(
            "VOCATION_DEMO_NOTIFICATIONS_DATABASE_URL",
            f"postgresql://postgres@127.0.0.1:{postgres_port}/notifications",
        ),
        help="the notifications service's database, to send Thomas's digest now",
    )
    parser.add_argument(
        "--no-digest-now",
        dest="digest_now",
        action="store_false",
        help="leave Thomas's digest for the digest hour instead of sending it at the end",
    )
    parser.add_argument("--partner", default=_env("VOCATION_DEMO_PARTNER", DEFAULT_PARTNER))
    parser.add_argument(
        "--api-key", default=os.environ.get("VOCATION_DEMO_API_KEY"), help="use this partner key"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(_env("VOCATION_DEMO_STATE_DIR", str(run_dir))),
        help="where the partner's key and the last run's ids are kept",
    )
    parser.add_argument(
        "--wait", type=float, default=30.0, help="seconds to wait for the e-mails and SMS at the end"
    )
    parser.add_argument(
        "--check", action="store_true", help="exit with 1 unless every expected e-mail and SMS arrived"
    )
    return parser.parse_args(argv)


def _ready(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(f"{url}/health/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m vocation_local demo`."""
    args = parse_args(argv)
    narrator = Narrator(0.0 if args.fast else args.pause)
    out = narrator.out
    with httpx.Client() as client:
        for name, url in (("events gateway", args.events_url), ("catalogue", args.catalogue_url)):
            if not _ready(client, url):
                out(f"The {name} does not answer at {url}.")
                out("Start the platform first, in another terminal: make run")
                out("(or point the demo at it: --events-url, --catalogue-url; see --help)")
                return 2
        started_at = datetime.now(UTC)
        sms_file: Path | None = args.sms_file
        mailbox_url: str | None = args.mailbox_url
        if not _ready_mailbox(client, args.mailbox_url):
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
            _tidy_previous_run(gateway, state_file, narrator)
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
        if not _within_default_sms_window(datetime.now(UTC)):
            out(
                "  It is outside 08:00–21:30 in Paris: SMS wait for the morning (unless configured otherwise)."
            )
        shown = Shown()
        all_arrived = watch(outbox, expectations(scenario), scenario, args.wait, narrator, shown)
        _show_reasons(outbox, scenario.people["martin"].email, f"demo-{scenario.run}-", narrator)
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
                watch(outbox, [digest_expectation(scenario)], scenario, args.wait, narrator, shown)
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


def _ready_mailbox(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(f"{url}/api/messages", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    sys.exit(main())
