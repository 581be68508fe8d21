"""Signed personal links: a short token per action, candidate and offer, with an expiry.

Context: a message carries links that act for one person (see the offer, « Je suis
intéressé(e) », « Pas pour moi », the employer's one-click answers, later the unsubscribe links).
They must not be forged, must expire, must say why they fail (a forged link and an expired one get
different pages), and an SMS carries one of them, so they must be short.

Decision: a token is `base64url(body + mac)` without padding. The body is one byte (the scheme's
version in the high 3 bits, the action's code in the low 5), the expiry (4 bytes, seconds since
1970, big-endian), then the candidate id and the target id (the offer; empty for actions about the
candidate alone), each as one length byte and its UTF-8 bytes, or `0xFF` and 16 bytes when the id
is a UUID in its canonical form. The MAC is the first 12 bytes (96 bits) of HMAC-SHA256 under the
link key (`VOCATION_LINK_KEY`) of a domain label and the body. With UUID ids a token is 68
characters. `verify` tries every active key (the current one, and the previous one during a
rotation) without early exit and compares in constant time; it answers `valid`, `forged`
(malformed, bad MAC, another action than the page's) or `expired` (genuine but past its time: it
still names the action and the ids, so the page can offer a fresh link). A token is accepted only
in its one canonical spelling.

Consequence: nothing is stored per token (erasure has nothing to delete here); a link acts once
because the state it changes is already there at the second click, not because the token is
remembered. The key is shared by every service that signs or reads links (catalogue,
notifications), and fails closed outside development like the pseudonym key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from vocation_shared.contracts.payloads import application_id_of

LINK_KEY_VARIABLE = "VOCATION_LINK_KEY"
DEVELOPMENT_LINK_KEY = "vocation-development-link-key-never-in-production"
DEFAULT_TTL = timedelta(days=30)
VERSION = 1
MAC_BYTES = 12
_DOMAIN = b"vocation-link\x00"
_UUID_MARK = 0xFF
_MAX_ID_BYTES = 200
_MAX_TOKEN_CHARS = 700
_TOKEN_ALPHABET = re.compile(r"^[A-Za-z0-9_-]+$")
_EXPIRY = struct.Struct(">I")


class Action(StrEnum):
    """What a link does once its page is confirmed; each has a fixed code inside the token."""

    VIEW_OFFER = "view_offer"
    INTERESTED = "interested"
    NOT_FOR_ME = "not_for_me"
    WITHDRAW = "withdraw"
    PROPOSE_EXCHANGE = "propose_exchange"
    DECLINE = "decline"
    HIRED = "hired"
    UNSUBSCRIBE_EMAIL = "unsubscribe_email"
    UNSUBSCRIBE_SMS = "unsubscribe_sms"


_CODES: dict[Action, int] = {
    Action.VIEW_OFFER: 1,
    Action.INTERESTED: 2,
    Action.NOT_FOR_ME: 3,
    Action.WITHDRAW: 4,
    Action.PROPOSE_EXCHANGE: 5,
    Action.DECLINE: 6,
    Action.HIRED: 7,
    Action.UNSUBSCRIBE_EMAIL: 8,
    Action.UNSUBSCRIBE_SMS: 9,
}
"""Never renumber: tokens in the mailboxes carry these codes."""
_ACTIONS = {code: action for action, code in _CODES.items()}


class Verdict(StrEnum):
    """What a token is worth."""

    VALID = "valid"
    FORGED = "forged"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Link:
    """What a genuine token says: the action, for whom, about what, until when."""

    action: Action
    candidate_id: str
    target_id: str
    expires_at: datetime

    @property
    def application_id(self) -> str:
        """The application of this candidate and offer (see `application_id_of`)."""
        return application_id_of(self.candidate_id, self.target_id)


@dataclass(frozen=True, slots=True)
class Checked:
    """The verdict on a token, and what it says when it is genuine (valid or expired)."""

    verdict: Verdict
    link: Link | None = None

    @property
    def valid(self) -> bool:
        """Whether the page may act on it."""
        return self.verdict is Verdict.VALID


_FORGED = Checked(Verdict.FORGED)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _encode_id(value: str) -> bytes:
    try:
        as_uuid = uuid.UUID(value)
    except ValueError:
        as_uuid = None
    if as_uuid is not None and str(as_uuid) == value:
        return bytes([_UUID_MARK]) + as_uuid.bytes
    raw = value.encode()
    if len(raw) > _MAX_ID_BYTES:
        raise ValueError(f"an id in a link is at most {_MAX_ID_BYTES} bytes")
    return bytes([len(raw)]) + raw


def _decode_id(body: bytes, at: int) -> tuple[str, int]:
    mark = body[at]
    if mark == _UUID_MARK:
        end = at + 17
        if end > len(body):
            raise ValueError("truncated id")
        return str(uuid.UUID(bytes=body[at + 1 : end])), end
    end = at + 1 + mark
    if mark > _MAX_ID_BYTES or end > len(body):
        raise ValueError("truncated id")
    return body[at + 1 : end].decode(), end


def _seconds(moment: datetime | None) -> int:
    when = moment if moment is not None else datetime.now(UTC)
    if when.tzinfo is None:
        raise ValueError("a link's time must be timezone-aware")
    return int(when.timestamp())


class LinkSigner:
    """Signs links with the first key and verifies them with every key (rotation)."""

    __slots__ = ("_keys",)

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        raw = [k.encode() if isinstance(k, str) else k for k in keys]
        if not raw or not all(raw):
            raise ValueError(f"{LINK_KEY_VARIABLE} is empty")
        self._keys = tuple(raw)

    def _mac(self, key: bytes, body: bytes) -> bytes:
        return hmac.new(key, _DOMAIN + body, hashlib.sha256).digest()[:MAC_BYTES]

    def sign(
        self,
        action: Action,
        candidate_id: str,
        target_id: str = "",
        *,
        ttl: timedelta = DEFAULT_TTL,
        now: datetime | None = None,
    ) -> str:
        """The token of `action` for `candidate_id` about `target_id`, valid `ttl` from `now`."""
        if ttl <= timedelta(0):
            raise ValueError("a link's time to live must be positive")
        expires = _seconds(now) + int(ttl.total_seconds())
        body = (
            bytes([VERSION << 5 | _CODES[action]])
            + _EXPIRY.pack(expires)
            + _encode_id(candidate_id)
            + _encode_id(target_id)
        )
        return _b64(body + self._mac(self._keys[0], body))

    def verify(self, token: str, *, action: Action | None = None, now: datetime | None = None) -> Checked:
        """Whether `token` is valid, forged or expired; `action`: the one this page performs."""
        if not token or len(token) > _MAX_TOKEN_CHARS or not _TOKEN_ALPHABET.match(token):
            return _FORGED
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError:
            return _FORGED
        if _b64(raw) != token or len(raw) < 1 + _EXPIRY.size + 2 + MAC_BYTES:
            return _FORGED  # not the one canonical spelling, or too short to hold a body
        body, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
        matched = False
        for key in self._keys:  # every key, no early exit: the time does not tell which matched
            matched |= hmac.compare_digest(mac, self._mac(key, body))
        if not matched:
            return _FORGED
        link = _parse(body)
        if link is None or (action is not None and link.action is not action):
            return _FORGED
        if _seconds(now) >= int(link.expires_at.timestamp()):
            return Checked(Verdict.EXPIRED, link)
        return Checked(Verdict.VALID, link)

    def __repr__(self) -> str:
        return f"LinkSigner(<{len(self._keys)} key(s) hidden>)"


def _parse(body: bytes) -> Link | None:
    """The link a genuinely signed body says, or None for a version or action this code does not know."""
    version, code = body[0] >> 5, body[0] & 0x1F
    if version != VERSION or code not in _ACTIONS:
        return None
    (expires,) = _EXPIRY.unpack_from(body, 1)
    try:
        candidate_id, at = _decode_id(body, 1 + _EXPIRY.size)
        target_id, at = _decode_id(body, at)
    except (ValueError, IndexError):
        return None
    if at != len(body):
        return None
    return Link(_ACTIONS[code], candidate_id, target_id, datetime.fromtimestamp(expires, UTC))
