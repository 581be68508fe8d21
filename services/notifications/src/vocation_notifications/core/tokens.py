"""Signed unsubscribe tokens (HMAC-SHA256): who unsubscribes from which channel, unforgeable."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from vocation_shared.contracts.vocabulary import Channel


class BadToken(ValueError):
    """A token that was not signed by us, or is malformed."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_unsubscribe(secret: str, candidate_id: str, channel: Channel) -> str:
    """A URL-safe token naming the candidate and the channel, with its HMAC."""
    body = f"{candidate_id}|{channel}".encode()
    mac = hmac.new(secret.encode(), b"unsubscribe|" + body, hashlib.sha256).digest()[:20]
    return f"{_b64(body)}.{_b64(mac)}"


def verify_unsubscribe(secrets: str | Sequence[str], token: str) -> tuple[str, Channel]:
    """The (candidate id, channel) a token names; raises `BadToken` if it is forged or malformed.

    `secrets`: the active signing secrets (the current one, and the previous one during a
    rotation); a token signed with any of them verifies.
    """
    active = [secrets] if isinstance(secrets, str) else list(secrets)
    try:
        body_part, mac_part = token.split(".", 1)
        body = _unb64(body_part)
        mac = _unb64(mac_part)
    except (ValueError, TypeError) as exc:
        raise BadToken("malformed token") from exc
    # Every secret is tried (no early exit): the time taken does not tell which one matched.
    matched = False
    for secret in active:
        expected = hmac.new(secret.encode(), b"unsubscribe|" + body, hashlib.sha256).digest()[:20]
        matched |= hmac.compare_digest(mac, expected)
    if not matched:
        raise BadToken("bad signature")
    try:
        candidate_id, channel = body.decode().rsplit("|", 1)
        return candidate_id, Channel(channel)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadToken("malformed token") from exc
