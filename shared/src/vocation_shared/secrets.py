"""Secrets fail closed: a service refuses to start on a public, placeholder or short secret.

Each service lists what is wrong with its secrets as `SecretProblem`s and calls `fail_closed`
once at start. Outside development mode the first problem stops the service with one line naming
the variable and the command that makes a good value; in development mode (`VOCATION_DEV_MODE`,
set by `make run`, `make demo` and the tests) each problem is logged as a warning instead, and
the log says that development mode is on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MIN_SECRET_BYTES = 32
NEW_SECRET_COMMAND = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"  # noqa: S105 - a command, not a secret
_PLACEHOLDER_WORDS = (
    "change-me",
    "changeme",
    "change_me",
    "placeholder",
    "secret",
    "password",
    "xxx",
    "todo",
)


@dataclass(frozen=True, slots=True)
class SecretProblem:
    """What is wrong with one secret setting, and how to make a good value."""

    variable: str
    reason: str
    fix: str = NEW_SECRET_COMMAND

    def line(self) -> str:
        """The one line an operator reads: variable, reason, command."""
        return f"{self.variable} {self.reason}: set it to a value made with `{self.fix}`"


class InsecureConfiguration(SystemExit):
    """A secret is missing or weak outside development mode: the service does not start."""


def weak_secret(
    variable: str, value: str | None, *, public_default: str | None = None
) -> SecretProblem | None:
    """Why `value` is no secret (empty, the public default, a placeholder, under 32 bytes), or None."""
    if not value:
        return SecretProblem(variable, "is empty")
    if public_default is not None and value == public_default:
        return SecretProblem(variable, "is the public default")
    lowered = value.strip().lower()
    if any(word in lowered for word in _PLACEHOLDER_WORDS) and len(set(lowered)) < 20:
        return SecretProblem(variable, "is a placeholder")
    if len(value.encode()) < MIN_SECRET_BYTES:
        return SecretProblem(variable, f"is shorter than {MIN_SECRET_BYTES} bytes")
    return None


def fail_closed(problems: Sequence[SecretProblem | None], *, dev_mode: bool, log: Any) -> None:
    """Stop the service on the first problem, unless in development mode (then warn about each).

    `log` is a structlog logger; no secret value is ever logged, only the variable's name.
    """
    found = [p for p in problems if p is not None]
    if dev_mode:
        log.warning("development mode: secrets may keep their public defaults (VOCATION_DEV_MODE)")
        for problem in found:
            log.warning(
                "insecure secret allowed in development mode",
                variable=problem.variable,
                reason=problem.reason,
            )
        return
    if found:
        raise InsecureConfiguration(found[0].line())
