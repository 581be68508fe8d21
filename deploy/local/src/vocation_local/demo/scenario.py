"""The demo's story: the establishments, people, offers and expected messages of one run.

Employers of the Ain and the Landes (real communes, fictional names) register their sites and
post vacancies for the sector's priority métiers; job seekers, people in reconversion and
apprentices register with their contact and consent; an IME offers an immersion place that two
people ask for; a training institute opens a DEAES session; a new candidate arrives once the
offers exist; an employer fills a post before the daily digest.

Every person, address and phone number is fictional: e-mail addresses are under the reserved
`.example` top-level domain (RFC 2606) and mobile numbers in the 06 39 98 range ARCEP keeps for
fiction. The terminal shows people's first names, never their addresses or numbers.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

MAIL_DOMAIN = "courriel.example"

# Communes (INSEE codes from the reference data).
BOURG_EN_BRESSE = "01053"
AMBERIEU_EN_BUGEY = "01004"
OYONNAX = "01283"
MONT_DE_MARSAN = "40192"
DAX = "40088"


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


def digest_expectation(s: Scenario) -> Expectation:
    """Thomas's digest: the MECS post, not the FAM's filled one."""
    thomas = s.people["lesca"]
    return Expectation(
        thomas.first_name, "email", thomas.email, s.vacancies["es-mecs"]["title"], "his daily digest"
    )
