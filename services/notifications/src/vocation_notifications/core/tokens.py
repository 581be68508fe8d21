"""Signed unsubscribe tokens: who unsubscribes from which channel, unforgeable.

Two formats during the move onto `vocation_shared.links` (docs/applications.md, "Plan: the
unsubscribe links move to `links`", step 1): new links are `links` tokens (actions
`unsubscribe_email` / `unsubscribe_sms`, no target, 400 days) under `VOCATION_LINK_KEY`; the old
ones (`base64(candidate|channel).base64(mac[:20])` under `VOCATION_SIGNING_SECRET`, no expiry) still
verify. An old token always contains a `.`, a new one never does: the format is told by that.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import timedelta

from vocation_shared.contracts.vocabulary import Channel
from vocation_shared.links import Action, LinkSigner

UNSUBSCRIBE_TTL = timedelta(days=400)
"""An old email's unsubscribe link keeps working this long (more than a year of mail)."""
_ACTIONS = {Channel.EMAIL: Action.UNSUBSCRIBE_EMAIL, Channel.SMS: Action.UNSUBSCRIBE_SMS}
_CHANNELS = {action: channel for channel, action in _ACTIONS.items()}


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


def sign_unsubscribe_link(links: LinkSigner, candidate_id: str, channel: Channel) -> str:
    """A new unsubscribe token (`links`, valid `UNSUBSCRIBE_TTL`)."""
    return links.sign(_ACTIONS[channel], candidate_id, ttl=UNSUBSCRIBE_TTL)


def read_unsubscribe(links: LinkSigner, secrets: Sequence[str], token: str) -> tuple[str, Channel]:
    """The (candidate id, channel) of an unsubscribe token of either format; raises `BadToken` if it
    is forged, malformed, expired, or a link for another action."""
    if "." in token:
        return verify_unsubscribe(secrets, token)
    checked = links.verify(token)
    if not checked.valid or checked.link is None or checked.link.action not in _CHANNELS:
        raise BadToken(f"not a valid unsubscribe link ({checked.verdict})")
    return checked.link.candidate_id, _CHANNELS[checked.link.action]
