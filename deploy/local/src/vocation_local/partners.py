"""Gateway partners for local runs, tests and benchmarks, made by the operator CLI's `--json` output."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError

EVERY_TYPE = "*"


@dataclass(frozen=True, slots=True)
class PartnerKey:
    """A partner as the gateway knows it, with its API key (shown once by the CLI).

    `allowed` holds the event types asked for at creation; it is empty when only the key was
    rotated (the CLI does not print them then).
    """

    name: str
    source: str
    key: str
    allowed: tuple[str, ...] = ()


class PartnerCommandError(RuntimeError):
    """`vocation partners …` failed; the message is the end of what it wrote on stderr."""


class _Printed(BaseModel):
    """What `vocation partners create|rotate-key --json` prints on stdout."""

    name: str
    source: str
    key: str


def create_partner(
    environment: Mapping[str, str],
    name: str,
    source: str,
    allow: Sequence[str] = (EVERY_TYPE,),
    *,
    rate: float | None = None,
    burst: float | None = None,
    share_source: bool = False,
) -> PartnerKey:
    """Create a partner in the gateway's database (`VOCATION_DATABASE_URL` of `environment`).

    `share_source`: another partner may already use `source` (tests give each test its own partner
    on one source, so that they see each other's entities as their own).
    """
    arguments = ["create", name, "--source", source]
    if share_source:
        arguments.append("--share-source")
    for event_type in allow:
        arguments += ["--allow", event_type]
    if rate is not None:
        arguments += ["--rate", str(rate)]
    if burst is not None:
        arguments += ["--burst", str(burst)]
    printed = _partners_cli(environment, arguments)
    return PartnerKey(printed.name, printed.source, printed.key, tuple(allow))


def rotate_key(environment: Mapping[str, str], name: str) -> PartnerKey:
    """Give an existing partner a new API key (the old one stops working)."""
    printed = _partners_cli(environment, ["rotate-key", name])
    return PartnerKey(printed.name, printed.source, printed.key)


def _partners_cli(environment: Mapping[str, str], arguments: list[str]) -> _Printed:
    command = [sys.executable, "-m", "vocation_shared.cli", "partners", *arguments, "--json"]
    result = subprocess.run(
        command, env=dict(environment), capture_output=True, text=True, check=False, timeout=120
    )
    if result.returncode != 0:
        raise PartnerCommandError(
            result.stderr.strip()[-800:]
            or f"vocation partners {arguments[0]} exited with {result.returncode}"
        )
    try:
        return _Printed.model_validate(json.loads(result.stdout))
    except (ValueError, ValidationError) as exc:
        raise PartnerCommandError(
            f"vocation partners {arguments[0]} --json printed no partner: {type(exc).__name__}"
        ) from exc
