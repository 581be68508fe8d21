"""The demo's story, read from `scenario.json`: who registers, what is offered, what should arrive.

Employers of the Ain and the Landes (real communes, fictional names) register their sites and
post vacancies for the sector's priority métiers; job seekers, people in reconversion and
apprentices register with their contact and consent; an IME offers an immersion place that two
people ask for; a training institute opens a DEAES session; a new candidate arrives once the
offers exist; an employer fills a post before the daily digest.

Every person, address and phone number is fictional: e-mail addresses are under the reserved
`.example` top-level domain (RFC 2606) and mobile numbers in the 06 39 98 range ARCEP keeps for
fiction. The terminal shows people's first names, never their addresses or numbers.

In the data file, `{run}` stands for the run's id (every id carries it, so runs do not mix) and
`{today+N}` for the date N days after the run's day.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).with_name("scenario.json")
_DAY = re.compile(r"\{today\+(\d+)\}")


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
    recruiter_email: str = ""

    def day(self, offset: int) -> str:
        return (self.today + timedelta(days=offset)).isoformat()


@cache
def _data() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    return loaded


def _fill(value: Any, run: str, today: date) -> Any:
    """`value` with `{run}` and `{today+N}` replaced, in every string it holds."""
    if isinstance(value, str):
        days = _DAY.fullmatch(value)
        if days is not None:
            return (today + timedelta(days=int(days.group(1)))).isoformat()
        return value.replace("{run}", run)
    if isinstance(value, dict):
        return {k: _fill(v, run, today) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, run, today) for v in value]
    return value


def build_scenario(run: str, today: date) -> Scenario:
    """The establishments, people and offers of one demo run (ids carry the run id)."""
    data = _fill(_data(), run, today)
    people = {p["key"]: Person(**p) for p in data["people"]}
    return Scenario(
        run,
        today,
        establishments=data["establishments"],
        people=people,
        vacancies=data["vacancies"],
        slot=data["slot"],
        training=data["training"],
        tutor_email=data["tutor_email"],
        recruiter_email=data["recruiter_email"],
    )


def _expectation(s: Scenario, wanted: dict[str, str]) -> Expectation:
    if "person" not in wanted:
        return Expectation(**wanted)
    person = s.people[wanted["person"]]
    address = person.phone if wanted["channel"] == "sms" else person.email
    assert address is not None, f"{person.key} has no phone for an SMS"
    return Expectation(person.first_name, wanted["channel"], address, wanted["contains"], wanted["what"])


def expectations(s: Scenario) -> list[Expectation]:
    """What the newcomer should see arrive, now (Thomas's digest comes at the digest hour)."""
    return [_expectation(s, wanted) for wanted in _data()["expectations"]]


def digest_expectation(s: Scenario) -> Expectation:
    """Thomas's digest: the MECS post, not the FAM's filled one."""
    return _expectation(s, _data()["digest_expectation"])
