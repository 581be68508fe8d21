"""Reading events from bytes: envelope first, then the model of its type, with precise errors."""

from __future__ import annotations

import re
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


_TYPE_FIELD = re.compile(rb'"type"\s*:\s*"([a-z0-9.\-]{1,200})"')


def load_json(raw: bytes | str) -> Any:
    """Decode JSON, raising `InvalidEvent('unparsable', …)` on bad input."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("unparsable", [FieldError("", f"not valid JSON: {exc}")]) from exc


def parse_event(raw: bytes | str | dict[str, Any], type_hint: str | None = None) -> AnyEvent:
    """Validate a structured-mode CloudEvent into the model of its `type`.

    `type_hint` (e.g. the `ce_type` Kafka header) lets bytes be validated in one pass;
    the event's own `type` still has to agree with the model. Raises `InvalidEvent`
    with kind `unparsable`, `not-an-event`, `unknown-type` or `invalid`.
    """
    if type_hint is None and isinstance(raw, bytes):
        peeked = _TYPE_FIELD.search(raw)
        type_hint = peeked[1].decode("utf-8", errors="replace") if peeked else None
    hinted = EVENT_TYPES.get(type_hint) if type_hint else None
    if hinted is not None and not isinstance(raw, dict):
        try:
            return hinted.model_validate_json(raw)
        except ValidationError:
            pass  # fall through: the slower path below tells exactly what is wrong
    document = raw if isinstance(raw, dict) else load_json(raw)
    if not isinstance(document, dict):
        raise InvalidEvent("not-an-event", [FieldError("", "a CloudEvent is a JSON object")])
    declared = document.get("type")
    model = EVENT_TYPES.get(declared) if isinstance(declared, str) else None
    if model is None:
        try:
            envelope = Envelope.model_validate(document)
        except ValidationError as exc:
            raise InvalidEvent("invalid", errors_of(exc)) from exc
        raise InvalidEvent("unknown-type", [FieldError("/type", f"unknown event type {envelope.type!r}")])
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise InvalidEvent("invalid", errors_of(exc)) from exc
