"""The gateway's problems (RFC 9457, `vocation_shared.http.problems`): an invalid event, a forbidden one."""

from __future__ import annotations

from vocation_shared.contracts.codec import FieldError
from vocation_shared.http.problems import PROBLEM_CONTENT_TYPE, TYPE_BASE, Problem

__all__ = ["PROBLEM_CONTENT_TYPE", "TYPE_BASE", "Problem", "forbidden", "invalid"]


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
