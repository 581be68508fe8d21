"""What the attacks share: a partner posting to the gateway, the mailbox and SMS sink, Kafka and the databases."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from vocation_local.e2e import Platform, mails_to
from vocation_local.partners import create_partner
from vocation_shared.links import DEVELOPMENT_LINK_KEY, LinkSigner
from vocation_shared.testing import samples

BISCARROSSE, CAPBRETON, SOUSTONS, VALSERHONE = "40046", "40065", "40310", "01033"


@dataclass(frozen=True)
class Partner:
    """A partner of the platform, as its system sees it: a name, a source and an API key."""

    name: str
    source: str
    key: str

    def event(self, event_type: str, subject: str, data: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """A CloudEvent of this partner (its own source, a fresh id)."""
        return samples.cloud_event(
            event_type, subject, data, id=f"sec-{uuid.uuid4().hex}", source=self.source, **fields
        )

    def send(self, platform: Platform, event: dict[str, Any]) -> httpx.Response:
        """POST one event to the gateway; the answer, whatever it is."""
        return httpx.post(
            f"{platform.urls['events']}/v1/events",
            content=json.dumps(event),
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/cloudevents+json"},
            timeout=30,
        )

    def post(self, platform: Platform, event: dict[str, Any]) -> None:
        """POST one event that must be accepted."""
        answer = self.send(platform, event)
        assert answer.status_code == 202, answer.text


def new_partner(platform: Platform, label: str) -> Partner:
    """A partner allowed every partner type, created with the operator CLI."""
    name = f"sec-{label}-{uuid.uuid4().hex[:6]}"
    source = f"urn:partner:{name}"
    return Partner(name, source, create_partner(platform.environments["events"], name, source).key)


def partners_cli(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`vocation partners ARGS` as an operator runs it, on the environment's events database."""
    return subprocess.run(
        [sys.executable, "-m", "vocation_shared.cli", "partners", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def subscription_id(result: subprocess.CompletedProcess[str]) -> str:
    """The id `vocation partners subscribe` printed."""
    line = next(line for line in result.stdout.splitlines() if line.startswith("subscription "))
    return line.split()[1]


def assert_refused(answer: httpx.Response, pointer: str, status: int = 403) -> None:
    """The gateway refused the event with a problem+json locating `pointer`."""
    assert answer.status_code == status, (
        f"expected {status} at {pointer}, got {answer.status_code}: {answer.text}"
    )
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.headers
    pointers = [error.get("pointer") for error in answer.json().get("errors", [])]
    assert pointer in pointers, f"expected an error at {pointer}, got {answer.json()}"


def now() -> str:
    """The current time as a CloudEvent `time`."""
    return datetime.now(UTC).isoformat()


def query(dsn: str, sql: str, *args: Any) -> list[Any]:
    """Rows of a query on a service's database."""

    async def fetch() -> list[Any]:
        connection = await asyncpg.connect(dsn)
        try:
            return list(await connection.fetch(sql, *args))
        finally:
            await connection.close()

    return asyncio.run(fetch())


def new_phone() -> str:
    """A French mobile number no other test uses."""
    return "+3363998" + str(uuid.uuid4().int)[:4]


def candidate(
    run: str,
    name: str,
    commune: str,
    rome: str,
    diploma: str,
    email: str,
    phone: str | None = None,
    first_name: str | None = None,
) -> dict[str, Any]:
    """A registration (profile and contact) of a candidate wanting `rome` near `commune`, within 15 km."""
    channels = ["email"] + (["sms"] if phone else [])
    contact: dict[str, Any] = {"email": email, "channels": channels}
    contact |= {"phone": phone} if phone else {}
    contact |= {"first_name": first_name} if first_name else {}
    return samples.candidate(
        id=f"cand-{run}-{name}",
        home_commune_insee=commune,
        contact=contact,
        wanted_rome_codes=[rome],
        accepts_close_metiers=False,
        diplomas=[diploma],
        experience=[],
        life_experience=[],
        mobility_radius_km=15,
    )


def vacancy(run: str, name: str, commune: str, rome: str, diploma: str, title: str) -> dict[str, Any]:
    """An open CDI at `commune` that a candidate wanting `rome` with `diploma` nearby fits."""
    establishment = {"id": f"etab-{run}-{name}", "siret": samples.SIRET_SAAD_MONT_DE_MARSAN}
    establishment |= {"name": f"Établissement {name.title()}", "kind": "ccas"}
    return samples.vacancy(
        id=f"vac-{run}-{name}",
        establishment=establishment,
        rome_code=rome,
        title=title,
        contract_type="cdi",
        working_time="full_time",
        schedule={"night": False, "weekend": False},
        start_date=samples.candidate()["available_from"],
        required_diploma=diploma,
        housing_offered=False,
        commune_insee=commune,
    )


_SIGNED = re.compile(r"/l/([A-Za-z0-9_-]+)")
_LINKS = LinkSigner([DEVELOPMENT_LINK_KEY])  # the test platform runs on the development link key


def offers_named(text: str) -> set[str]:
    """The offers a message's text names: in a public `/offres/{id}` link or a signed personal link."""
    named = set(re.findall(r"/offres/([A-Za-z0-9][A-Za-z0-9._:\-]*)", text))
    for token in _SIGNED.findall(text):
        checked = _LINKS.verify(token)
        if checked.link is not None:
            named.add(checked.link.target_id)
    return named


def mails_about(platform: Platform, address: str, offer_id: str) -> list[dict[str, Any]]:
    """The emails to `address` that name this offer."""
    return [m for m in mails_to(platform, address) if offer_id in offers_named(m["text"])]
