"""The public endpoints (unsubscribe, inbound SMS, fresh links, the link pages) read bounded bodies and slow down guessers."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import httpx
import pytest
from vocation_local.e2e import Platform
from vocation_shared.links import DEVELOPMENT_LINK_KEY, Action, LinkSigner

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MIB = 1024 * 1024
GUESSES = 300
"""Unknown unsubscribe keys one client may try before the answer must be 429."""


def _chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """The body in chunks: sent without Content-Length (chunked transfer encoding)."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _oversized_form() -> bytes:
    return b"token=" + b"a" * MIB


def _oversized_sms() -> bytes:
    return json.dumps({"from": "+33612345678", "text": "STOP " + "x" * MIB}).encode()


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("service", "path", "content_type", "body"),
    [
        ("notifications", "/desinscription", FORM, _oversized_form()),
        ("notifications", "/sms/inbound", "application/json", _oversized_sms()),
        ("notifications", "/liens/nouveau", FORM, _oversized_form()),
        # A genuine link (the test platform's development key): a forged one is refused unread (403).
        (
            "catalogue",
            "/l/" + LinkSigner([DEVELOPMENT_LINK_KEY]).sign(Action.INTERESTED, "c-413", "v-413"),
            FORM,
            b"message=" + b"a" * MIB,
        ),
    ],
    ids=["unsubscribe", "inbound-sms", "fresh-link", "link-page"],
)
@pytest.mark.parametrize("chunked", [False, True], ids=["with-length", "chunked"])
def test_a_one_mebibyte_body_is_refused_with_413(
    platform: Platform, service: str, path: str, content_type: str, body: bytes, chunked: bool
) -> None:
    answer = httpx.post(
        f"{platform.urls[service]}{path}",
        content=_chunks(body) if chunked else body,
        headers={"Content-Type": content_type},
        timeout=30,
    )
    assert answer.status_code == 413, f"{path}: {answer.status_code} {answer.text[:300]}"


def test_guessing_unsubscribe_keys_from_one_address_is_slowed_down_with_429(platform: Platform) -> None:
    statuses: list[int] = []
    try:
        with httpx.Client(base_url=platform.urls["notifications"], timeout=10) as client:
            for _ in range(GUESSES):
                token = secrets.token_urlsafe(48)
                statuses.append(client.post("/desinscription", params={"token": token}).status_code)
                if statuses[-1] == 429:
                    break
        assert 429 in statuses, f"{GUESSES} unknown keys from one address, answers: {sorted(set(statuses))}"
        assert statuses.index(429) >= 3, "a client with a mistyped link gets a few tries"
        assert set(statuses[: statuses.index(429)]) <= {400}, sorted(set(statuses))
    finally:
        # The limit is per client address and every test speaks from 127.0.0.1: start afresh.
        platform.stop("notifications")
        platform.start("notifications")
        platform.wait_ready("notifications")
