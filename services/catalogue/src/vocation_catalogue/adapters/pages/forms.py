"""The confirming forms: reading a bounded url-encoded body and checking each field against its closed list."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar
from urllib.parse import parse_qs

from starlette.requests import Request
from vocation_shared.contracts.vocabulary import ApplicationDeclineReason, MatchDeclineReason
from vocation_shared.http.bodies import read_body
from vocation_shared.links import Action

MAX_MESSAGE_CHARS = 1000
MAX_BODY_BYTES = 16 * 1024
"""A message of 1,000 characters percent-encoded (up to 9 bytes each for a 3-byte character) and
the other fields fit; nothing larger is read."""
FIELDS = ("message", "partager_email", "partager_telephone", "raison")
CHECKED = "oui"
_ALLOWED_CONTROLS = frozenset("\n\t")
E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class Answer:
    """What a confirming form says, checked; `errors` maps a field to its French error."""

    values: dict[str, str] = field(default_factory=dict)
    message: str | None = None
    share_email: bool = False
    share_phone: bool = False
    match_reason: MatchDeclineReason | None = None
    decline_reason: ApplicationDeclineReason | None = None
    errors: dict[str, str] = field(default_factory=dict)


async def read_form(request: Request) -> dict[str, list[str]]:
    """The url-encoded fields of the body, at most `MAX_BODY_BYTES` read (`BodyTooLarge` beyond)."""
    text = (await read_body(request, MAX_BODY_BYTES)).decode("utf-8", errors="replace")
    return parse_qs(text, keep_blank_values=True, max_num_fields=20)


def check(action: Action, form: dict[str, list[str]]) -> Answer:
    """The form's fields for `action`, or the errors that send the form back (fields of other actions ignored)."""
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name in FIELDS:
        given = form.get(name, [])
        if len(given) > 1:
            errors[name] = "Ce champ a été envoyé plusieurs fois : renvoyez le formulaire."
        values[name] = given[0] if given else ""
    if action is Action.INTERESTED:
        return _interested(values, errors)
    if action is Action.NOT_FOR_ME:
        match_reason = _reason(values["raison"], MatchDeclineReason, errors, required=False)
        return Answer(values, match_reason=match_reason, errors=errors)
    if action is Action.DECLINE:
        decline_reason = _reason(values["raison"], ApplicationDeclineReason, errors, required=True)
        return Answer(values, decline_reason=decline_reason, errors=errors)
    return Answer(values, errors=errors)


def _interested(values: dict[str, str], errors: dict[str, str]) -> Answer:
    message = values["message"].replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(message) > MAX_MESSAGE_CHARS:
        errors["message"] = (
            f"Votre message fait {len(message)} caractères : raccourcissez-le à {MAX_MESSAGE_CHARS} au plus."
        )
    elif any(ord(c) < 32 and c not in _ALLOWED_CONTROLS for c in message):
        errors["message"] = "Votre message contient des caractères invisibles non acceptés : retirez-les."
    shares = {}
    for name in ("partager_email", "partager_telephone"):
        if values[name] not in ("", CHECKED):
            errors[name] = "Cochez ou décochez la case."
        shares[name] = values[name] == CHECKED
    return Answer(
        values,
        message=message or None,
        share_email=shares["partager_email"],
        share_phone=shares["partager_telephone"],
        errors=errors,
    )


def _reason(raw: str, choices: type[E], errors: dict[str, str], *, required: bool) -> E | None:
    if not raw and not required:
        return None
    try:
        return choices(raw)
    except ValueError:
        errors["raison"] = "Choisissez une raison dans la liste."
        return None
