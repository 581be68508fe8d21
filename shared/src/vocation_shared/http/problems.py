"""Problem details (RFC 9457): the one error format of every service, its type URIs and located errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from starlette.responses import Response

from vocation_shared.contracts.codec import FieldError

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "urn:vocation:problem:"

ParameterPlace = Literal["query", "path", "header", "cookie"]


@dataclass(frozen=True, slots=True)
class ParameterError:
    """One invalid request parameter, by its name and where it is (as an OpenAPI parameter: `name`, `in`).

    Its `pointer` is `/<in>/<name>`, as the gateway's first errors had it, so that a client reading
    only pointers still finds it.
    """

    name: str
    place: ParameterPlace
    message: str

    def as_dict(self) -> dict[str, str]:
        """The error as JSON-ready dict."""
        return {
            "pointer": f"/{self.place}/{self.name}",
            "parameter": self.name,
            "in": self.place,
            "message": self.message,
        }


ErrorItem = FieldError | ParameterError
"""A located error: `FieldError` by JSON pointer into the body, `ParameterError` by parameter name."""


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a request (or one event of a batch) was not accepted.

    `kind` is the last part of the `type` URI (`urn:vocation:problem:<kind>`), stable for
    programs; `title` and `detail` are for people, in their language.
    """

    status: int
    kind: str
    title: str
    detail: str = ""
    errors: tuple[ErrorItem, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        """The problem+json body."""
        body: dict[str, Any] = {"type": TYPE_BASE + self.kind, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if self.errors:
            body["errors"] = [e.as_dict() for e in self.errors]
        return body

    def response(self, headers: dict[str, str] | None = None) -> Response:
        """The answer carrying this problem (`application/problem+json`)."""
        return Response(
            orjson.dumps(self.as_dict()),
            status_code=self.status,
            media_type=PROBLEM_CONTENT_TYPE,
            headers=headers,
        )


class ProblemError(Exception):
    """Raised by a route to answer with `problem` (the shared handler renders it)."""

    def __init__(self, problem: Problem, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{problem.status} {problem.kind}")
        self.problem = problem
        self.headers = headers


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Problem details (RFC 9457).",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": "`urn:vocation:problem:<kind>`, stable for programs."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": (
                "Each invalid part of the request: `pointer` (RFC 6901) into the body; for a query, path "
                "or header parameter, `parameter` and `in` name it (and `pointer` is `/<in>/<name>`)."
            ),
            "items": {
                "type": "object",
                "required": ["pointer", "message"],
                "properties": {
                    "pointer": {"type": "string"},
                    "parameter": {"type": "string"},
                    "in": {"type": "string", "enum": ["query", "path", "header", "cookie"]},
                    "message": {"type": "string"},
                },
            },
        },
    },
}


def problem_doc(description: str) -> dict[str, Any]:
    """An OpenAPI response whose body is a problem (for a route's `responses`)."""
    return {"description": description, "content": {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_SCHEMA}}}
