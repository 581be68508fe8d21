"""Problem details (RFC 9457) of the gateway: a type URI, a status, and located field errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vocation_shared.contracts.codec import FieldError

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "urn:vocation:problem:"


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a request or an event was not accepted."""

    status: int
    kind: str
    title: str
    detail: str = ""
    errors: tuple[FieldError, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        """The problem+json body."""
        body: dict[str, Any] = {"type": TYPE_BASE + self.kind, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if self.errors:
            body["errors"] = [e.as_dict() for e in self.errors]
        return body


def invalid(
    kind: str, errors: list[FieldError], title: str = "The event does not follow its contract"
) -> Problem:
    """A 422: the body is JSON but not a valid event."""
    return Problem(422, kind, title, errors=tuple(errors))


def forbidden(detail: str, pointer: str, kind: str = "forbidden") -> Problem:
    """A 403: this partner may not publish this event (`not-owner`: about another partner's entity)."""
    return Problem(
        403,
        kind,
        "This partner may not publish this event",
        detail,
        (FieldError(pointer, detail),),
    )
