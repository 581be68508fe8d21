"""A realistic, seeded stream of partner events for the fault runs: the Ain and the Landes in one day."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from vocation_shared.contracts.fields import siret_checksum_ok
from vocation_shared.reference import communes
from vocation_shared.testing import samples

# (ROME 4, diploma it requires or None, what a partner calls the post)
METIERS = (
    ("J1501", "DEAS", "Aide-soignant(e)"),
    ("J1506", "DEI", "Infirmier(ère)"),
    ("K1306", "DEAES", "Accompagnant(e) éducatif et social"),
    ("K1311", None, "Assistant(e) de vie aux familles"),
    ("J1304", "DEAP", "Auxiliaire de puériculture"),
    ("J1301", None, "Agent de service hospitalier"),
)
KINDS = (
    ("ehpad", "EHPAD"),
    ("saad", "SAAD"),
    ("ssiad", "SSIAD"),
    ("ime", "IME"),
    ("hopital", "Centre hospitalier"),
)
NAMES = ("Les Tilleuls", "Les Glycines", "La Roselière", "Bel Air", "Les Cèdres", "Le Val Fleuri", "Les Pins")


@dataclass
class Workload:
    """The events to send, and what the test needs to know about the people in them."""

    events: list[dict[str, Any]]
    email_of: dict[str, str] = field(default_factory=dict)
    phone_of: dict[str, str] = field(default_factory=dict)
    email_consent: set[str] = field(default_factory=set)
    sms_consent: set[str] = field(default_factory=set)
    tutor_of_slot: dict[str, str] = field(default_factory=dict)


def _siret(rng: random.Random) -> str:
    while True:
        stem = str(rng.randrange(100_000_000_000, 999_999_999_999)) + str(rng.randrange(10))
        for check in range(10):
            if not stem.startswith("356000000") and siret_checksum_ok(stem + str(check)):
                return stem + str(check)


def _places() -> list[str]:
    found = []
    for departement in ("01", "40"):
        known = [c for c in communes().in_departement(departement) if c.latitude is not None and c.population]
        known.sort(key=lambda c: -(c.population or 0))
        found += [c.insee for c in known[:40]]
    return found


def build(
    run: str,
    source: str,
    *,
    candidates: int = 4500,
    vacancies: int = 3500,
    closures: int = 200,
    updates: int = 900,
    establishments: int = 100,
    slots: int = 200,
    requests: int = 400,
    trainings: int = 200,
    seed: int = 7,
) -> Workload:
    """The day's events in a plausible order (each after what it depends on); 10,000 by default."""
    rng = random.Random(seed)
    today = datetime.now(UTC).date()
    places = _places()
    timed: list[tuple[float, dict[str, Any]]] = []
    seq = 0

    def event(at: float, event_type: str, subject: str, data: dict[str, Any]) -> None:
        nonlocal seq
        seq += 1
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        timed.append(
            (
                at,
                samples.cloud_event(
                    event_type, subject, data, id=f"{run}-{seq:05d}", source=source, time=stamp
                ),
            )
        )

    def later(than: float) -> float:
        return than + rng.random() * (1 - than)

    work = Workload([])
    sites: list[dict[str, Any]] = []
    for i in range(establishments):
        kind, label = rng.choice(KINDS)
        site: dict[str, Any] = {
            "id": f"{run}-etab-{i}",
            "siret": _siret(rng),
            "name": f"{label} {rng.choice(NAMES)} {i}",
            "kind": kind,
            "commune_insee": rng.choice(places),
            "immersion_contact_email": f"tutorat.{i}.{run}@etablissement.example.org",
        }
        sites.append(site)
        event(rng.random() * 0.05, "fr.vocation.establishment.registered.v1", site["id"], site)

    def ref(site: dict[str, Any]) -> dict[str, Any]:
        return {k: site[k] for k in ("id", "siret", "name", "kind")}

    people: list[tuple[float, dict[str, Any]]] = []
    for i in range(candidates):
        rome, diploma, _ = rng.choice(METIERS)
        cid = f"{run}-c{i}"
        email = f"personne.{i}.{run}@example.org"
        phone = f"+336{10_000_000 + i * 7 + rng.randrange(7):08d}"
        roll = rng.random()
        channels = ["email"] if roll < 0.7 else ["email", "sms"] if roll < 0.85 else []
        contact: dict[str, Any] = {"email": email, "channels": channels}
        work.email_of[cid] = email
        if "sms" in channels:
            contact["phone"] = phone
            work.phone_of[cid] = phone
            work.sms_consent.add(cid)
        if "email" in channels:
            work.email_consent.add(cid)
        profile = samples.candidate(
            id=cid,
            kind=rng.choice(("job_seeker", "job_seeker", "reconversion", "replacement_staff")),
            wanted_rome_codes=[rome],
            accepts_close_metiers=rng.random() < 0.5,
            diplomas=[diploma] if diploma and rng.random() < 0.8 else [],
            experience=[{"rome_code": rome, "months": rng.randrange(0, 120)}],
            home_commune_insee=rng.choice(places),
            mobility_radius_km=rng.choice((5, 10, 15, 20, 30)),
            available_from=(today + timedelta(days=rng.randrange(-30, 30))).isoformat(),
            contract_types=rng.choice((["cdi"], ["cdi", "cdd"], ["cdd", "remplacement"])),
            working_times=rng.choice((["full_time"], ["full_time", "part_time"], ["part_time"])),
            accepts_night=rng.random() < 0.5,
            accepts_weekend=rng.random() < 0.6,
            wants_immersion=rng.random() < 0.3,
            birth_year=rng.randrange(1965, 2006),
        )
        at = rng.random() * 0.8
        event(at, "fr.vocation.candidate.registered.v1", cid, profile | {"contact": contact})
        people.append((at, profile))

    for at, profile in rng.sample(people, updates):
        changed = profile | {"mobility_radius_km": rng.choice((10, 25, 40)), "version": 2}
        event(later(at), "fr.vocation.candidate.updated.v1", profile["id"], changed)

    posted: list[tuple[float, dict[str, Any]]] = []
    for i in range(vacancies):
        rome, diploma, label = rng.choice(METIERS)
        site = rng.choice(sites)
        vid = f"{run}-v{i}"
        night = rng.random() < 0.3
        vacancy = samples.vacancy(
            id=vid,
            establishment=ref(site),
            rome_code=rome,
            title=f"{label}{' de nuit' if night else ''} réf. {vid}",
            contract_type=rng.choice(("cdi", "cdi", "cdd", "remplacement")),
            working_time=rng.choice(("full_time", "full_time", "part_time")),
            schedule={"night": night, "weekend": rng.random() < 0.5, "hours_per_week": 35},
            start_date=(today + timedelta(days=rng.randrange(5, 90))).isoformat(),
            required_diploma=diploma,
            housing_offered=rng.random() < 0.1,
            posts=rng.randrange(1, 4),
            commune_insee=site["commune_insee"],
        )
        at = 0.02 + rng.random() * 0.9
        event(at, "fr.vocation.vacancy.posted.v1", vid, vacancy)
        posted.append((at, vacancy))
    for at, vacancy in rng.sample(posted, closures):
        closed = vacancy | {"status": "closed", "version": 2}
        event(later(at), "fr.vocation.vacancy.closed.v1", vacancy["id"], closed)

    offered: list[tuple[float, dict[str, Any]]] = []
    for i in range(slots):
        rome, _, label = rng.choice(METIERS)
        site = rng.choice(sites)
        start = date(2027, 1, 4) + timedelta(weeks=rng.randrange(0, 20))
        capacity = rng.randrange(1, 5)
        slot: dict[str, Any] = {
            "id": f"{run}-s{i}",
            "establishment": ref(site),
            "rome_code": rome,
            "title": f"Une semaine avec l'équipe : {label} réf. {run}-s{i}",
            "commune_insee": site["commune_insee"],
            "start_date": start.isoformat(),
            "end_date": (start + timedelta(days=4)).isoformat(),
            "capacity": capacity,
            "places_left": capacity,
        }
        work.tutor_of_slot[slot["id"]] = site["immersion_contact_email"]
        at = rng.random() * 0.5
        event(at, "fr.vocation.immersion-slot.offered.v1", slot["id"], slot)
        offered.append((at, slot))
    askers = rng.sample(people, requests)  # one request per person: their emails stay distinct
    for n, (person_at, profile) in enumerate(askers):
        slot_at, slot = rng.choice(offered)
        request = {
            "request_id": f"{run}-r{n}",
            "slot_id": slot["id"],
            "candidate_id": profile["id"],
            "start_date": slot["start_date"],
            "end_date": slot["end_date"],
            "motivation": "Je voudrais découvrir le métier avant de me former.",
        }
        event(later(max(person_at, slot_at)), "fr.vocation.immersion.requested.v1", slot["id"], request)

    for i in range(trainings):
        rome, diploma, label = rng.choice([m for m in METIERS if m[1] is not None])
        start = date(2027, 9, 1) + timedelta(days=rng.randrange(0, 30))
        places_total = rng.randrange(10, 40)
        training: dict[str, Any] = {
            "id": f"{run}-t{i}",
            "provider_siret": _siret(rng),
            "provider_name": rng.choice(
                ("IFAS de Bourg-en-Bresse", "IRTS Aquitaine", "IFSI de Mont-de-Marsan")
            ),
            "title": f"Formation {label} réf. {run}-t{i}",
            "rome_code": rome,
            "diploma": diploma,
            "commune_insee": rng.choice(places),
            "start_date": start.isoformat(),
            "end_date": (start + timedelta(days=300)).isoformat(),
            "places": places_total,
            "places_left": places_total,
            "apprenticeship_possible": rng.random() < 0.5,
        }
        event(rng.random() * 0.9, "fr.vocation.training-session.published.v1", training["id"], training)

    timed.sort(key=lambda pair: pair[0])
    work.events = [e for _, e in timed]
    return work
