"""Reading events from bytes: envelope first, then the model of its type, with precise errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from vocation_shared.contracts.envelope import Envelope
from vocation_shared.contracts.events import EVENT_TYPES, AnyEvent


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem in an event, located by a JSON pointer (RFC 6901)."""

    pointer: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """The error as JSON-ready dict."""
        return {"pointer": self.pointer, "message": self.message}


class InvalidEvent(ValueError):
    """An event that cannot be accepted: unparsable, unknown type, or schema violations."""

    def __init__(self, kind: str, errors: list[FieldError]) -> None:
        self.kind = kind
        self.errors = errors
        detail = "; ".join(f"{e.pointer or '/'}: {e.message}" for e in errors[:10])
        super().__init__(f"{kind}: {detail}")


def json_pointer(location: tuple[int | str, ...]) -> str:
    """The JSON pointer of a pydantic error location."""
    parts = [str(part).replace("~", "~0").replace("/", "~1") for part in location]
    return "/" + "/".join(parts) if parts else ""


def errors_of(error: ValidationError, prefix: tuple[int | str, ...] = ()) -> list[FieldError]:
    """A pydantic validation error as located field errors, without echoing the input values."""
    found = []
    for item in error.errors(include_url=False, include_input=False):
        location = prefix + tuple(item["loc"])
        # Drop pydantic's tagged-union and function-validator markers from locations.
        location = tuple(part for part in location if not (isinstance(part, str) and "[" in part))
        message = item["msg"]
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        found.append(FieldError(json_pointer(location), message))
    return found


def load_json(raw: bytes | str) -> Any:
    """Decode JSON, raising `InvalidEvent('unparsable', …)` on bad input."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("unparsable", [FieldError("", f"not valid JSON: {exc}")]) from exc


def parse_event(raw: bytes | str | dict[str, Any]) -> AnyEvent:
    """Validate a structured-mode CloudEvent into the model of its `type`.

    Raises `InvalidEvent` with kind `unparsable`, `not-an-event`, `unknown-type` or `invalid`.
    """
    document = raw if isinstance(raw, dict) else load_json(raw)
    if not isinstance(document, dict):
        raise InvalidEvent("not-an-event", [FieldError("", "a CloudEvent is a JSON object")])
    try:
        envelope = Envelope.model_validate(document)
    except ValidationError as exc:
        raise InvalidEvent("invalid", errors_of(exc)) from exc
    model = EVENT_TYPES.get(envelope.type)
    if model is None:
        raise InvalidEvent("unknown-type", [FieldError("/type", f"unknown event type {envelope.type!r}")])
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise InvalidEvent("invalid", errors_of(exc)) from exc
