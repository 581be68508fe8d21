"""Signed personal links: short, unforgeable, expiring, rotating, and telling forged from expired."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from vocation_shared.contracts.payloads import application_id_of
from vocation_shared.links import DEVELOPMENT_LINK_KEY, MAC_BYTES, Action, LinkSigner, Verdict
from vocation_shared.settings import CommonSettings

pytestmark = pytest.mark.unit

KEY = "k" * 48
OLD_KEY = "o" * 48
NOW = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
CANDIDATE = str(uuid.UUID(int=1))
OFFER = str(uuid.UUID(int=2))
GOOD_KEY = "z" * 8 + "0123456789abcdefghijklmnopqrstuvwxyz"


def _token(action: Action = Action.INTERESTED, signer: LinkSigner | None = None, **kw: object) -> str:
    return (signer or LinkSigner([KEY])).sign(action, CANDIDATE, OFFER, now=NOW, **kw)  # type: ignore[arg-type]


def test_a_link_says_its_action_candidate_offer_and_expiry_30_days_on() -> None:
    checked = LinkSigner([KEY]).verify(_token(), now=NOW)
    assert checked.verdict is Verdict.VALID and checked.valid
    assert checked.link is not None
    assert (checked.link.action, checked.link.candidate_id, checked.link.target_id) == (
        Action.INTERESTED,
        CANDIDATE,
        OFFER,
    )
    assert checked.link.expires_at == NOW + timedelta(days=30)
    assert checked.link.application_id == application_id_of(CANDIDATE, OFFER)


def test_a_token_with_uuid_ids_is_68_url_safe_characters_and_other_ids_round_trip() -> None:
    token = _token()
    assert len(token) == 68
    assert token.replace("-", "").replace("_", "").isalnum()
    signer = LinkSigner([KEY])
    for candidate, target in [("cand-0001", "vac-0001"), ("cand-0001", ""), (CANDIDATE.upper(), "x" * 128)]:
        link = signer.verify(signer.sign(Action.NOT_FOR_ME, candidate, target, now=NOW), now=NOW).link
        assert link is not None and (link.candidate_id, link.target_id) == (candidate, target)


def test_every_changed_character_or_byte_makes_a_forged_link() -> None:
    signer, token = LinkSigner([KEY]), _token()
    for at in range(len(token)):
        other = "A" if token[at] != "A" else "B"
        tampered = token[:at] + other + token[at + 1 :]
        assert signer.verify(tampered, now=NOW).verdict is Verdict.FORGED, at
    raw = bytearray(base64.urlsafe_b64decode(token + "=="))
    raw[-MAC_BYTES - 1] ^= 1  # the last byte of the offer id: another offer, same MAC
    forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    assert signer.verify(forged, now=NOW) == signer.verify("", now=NOW)
    assert signer.verify(forged, now=NOW).link is None


@pytest.mark.parametrize(
    "token",
    ["", "!!!", "a" * 10, "a" * 5000, "abc=", "abc.def", " " + "a" * 68],
)
def test_malformed_tokens_are_forged(token: str) -> None:
    assert LinkSigner([KEY]).verify(token, now=NOW).verdict is Verdict.FORGED


def test_only_the_canonical_spelling_is_accepted() -> None:
    signer, token = LinkSigner([KEY]), _token()
    assert signer.verify(token + "=", now=NOW).verdict is Verdict.FORGED
    assert signer.verify(token + "A", now=NOW).verdict is Verdict.FORGED
    short = signer.sign(Action.HIRED, "c1", "o1", now=NOW)  # 23 bytes: its last character has 2 spare bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    sibling = short[:-1] + alphabet[alphabet.index(short[-1]) ^ 1]  # the same bytes, spelled otherwise
    assert base64.urlsafe_b64decode(sibling + "=") == base64.urlsafe_b64decode(short + "=")
    assert signer.verify(short, now=NOW).valid
    assert signer.verify(sibling, now=NOW).verdict is Verdict.FORGED


def test_a_link_signed_with_another_key_is_forged() -> None:
    assert LinkSigner([OLD_KEY]).verify(_token(), now=NOW).verdict is Verdict.FORGED


def test_a_link_for_another_action_is_forged_on_this_page() -> None:
    signer, token = LinkSigner([KEY]), _token(Action.VIEW_OFFER)
    assert signer.verify(token, action=Action.VIEW_OFFER, now=NOW).valid
    checked = signer.verify(token, action=Action.HIRED, now=NOW)
    assert checked.verdict is Verdict.FORGED and checked.link is None


def test_rotation_old_links_verify_under_the_previous_key_new_ones_are_signed_with_the_new() -> None:
    old_token = _token(signer=LinkSigner([OLD_KEY]))
    rotating = LinkSigner([KEY, OLD_KEY])
    assert rotating.verify(old_token, now=NOW).valid
    new_token = _token(signer=rotating)
    assert LinkSigner([KEY]).verify(new_token, now=NOW).valid
    assert LinkSigner([OLD_KEY]).verify(new_token, now=NOW).verdict is Verdict.FORGED
    assert LinkSigner([KEY]).verify(old_token, now=NOW).verdict is Verdict.FORGED  # previous key unset


def test_expiry_boundary_valid_until_the_second_before_expired_from_it_and_still_telling_what() -> None:
    signer = LinkSigner([KEY])
    token = _token(ttl=timedelta(days=30))
    end = NOW + timedelta(days=30)
    assert signer.verify(token, now=end - timedelta(seconds=1)).valid
    for when in (end, end + timedelta(days=400)):
        checked = signer.verify(token, now=when)
        assert checked.verdict is Verdict.EXPIRED and not checked.valid
        assert checked.link is not None
        assert (checked.link.action, checked.link.target_id) == (Action.INTERESTED, OFFER)
    assert signer.verify(token, action=Action.DECLINE, now=end).verdict is Verdict.FORGED


def test_bad_arguments_are_refused_when_signing() -> None:
    with pytest.raises(ValueError, match="VOCATION_LINK_KEY"):
        LinkSigner([])
    with pytest.raises(ValueError, match="VOCATION_LINK_KEY"):
        LinkSigner([KEY, ""])
    with pytest.raises(ValueError, match="positive"):
        _token(ttl=timedelta(0))
    with pytest.raises(ValueError, match="timezone"):
        LinkSigner([KEY]).sign(Action.HIRED, "c", "o", now=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="at most"):
        LinkSigner([KEY]).sign(Action.HIRED, "c" * 201, "o", now=NOW)
    assert KEY not in repr(LinkSigner([KEY]))


def test_the_public_default_link_key_is_a_secret_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOCATION_LINK_KEY", raising=False)
    monkeypatch.delenv("VOCATION_LINK_KEY_PREVIOUS", raising=False)
    problem = CommonSettings().link_key_problem()
    assert problem is not None and problem.variable == "VOCATION_LINK_KEY"
    monkeypatch.setenv("VOCATION_LINK_KEY", GOOD_KEY)
    assert CommonSettings().link_key_problem() is None
    monkeypatch.setenv("VOCATION_LINK_KEY_PREVIOUS", DEVELOPMENT_LINK_KEY)
    problem = CommonSettings().link_key_problem()
    assert problem is not None and problem.variable == "VOCATION_LINK_KEY_PREVIOUS"


def test_the_settings_signer_rotates_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOCATION_LINK_KEY", OLD_KEY)
    monkeypatch.delenv("VOCATION_LINK_KEY_PREVIOUS", raising=False)
    old_token = _token(signer=CommonSettings().link_signer())
    monkeypatch.setenv("VOCATION_LINK_KEY", KEY)
    assert CommonSettings().link_signer().verify(old_token, now=NOW).verdict is Verdict.FORGED
    monkeypatch.setenv("VOCATION_LINK_KEY_PREVIOUS", OLD_KEY)
    assert CommonSettings().link_signer().verify(old_token, now=NOW).valid
