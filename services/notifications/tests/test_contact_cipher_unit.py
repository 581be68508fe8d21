"""Contacts sealed at rest: what is stored does not show the address, opens only where it belongs."""

from __future__ import annotations

import base64

import pytest
from vocation_notifications.adapters.contact_cipher import (
    ContactCipher,
    ContactKeyError,
    new_key_setting,
    parse_keys,
)

pytestmark = pytest.mark.unit

K1 = ("k1", b"1" * 32)
K2 = ("k2", b"2" * 32)


def test_sealed_email_shows_nothing_of_the_address_and_opens_back() -> None:
    cipher = ContactCipher([K1])
    sealed = cipher.seal("camille.martin@exemple.fr", "cand-1", "email")
    assert sealed is not None and sealed.startswith("enc1:k1:") and "camille" not in sealed
    assert cipher.open(sealed, "cand-1", "email") == "camille.martin@exemple.fr"
    assert cipher.seal("camille.martin@exemple.fr", "cand-1", "email") != sealed, "a fresh nonce each time"


def test_value_moved_to_another_candidate_or_field_does_not_open() -> None:
    cipher = ContactCipher([K1])
    sealed = cipher.seal("+33612345678", "cand-1", "phone")
    with pytest.raises(ContactKeyError):
        cipher.open(sealed, "cand-2", "phone")
    with pytest.raises(ContactKeyError):
        cipher.open(sealed, "cand-1", "email")


def test_tampered_value_does_not_open() -> None:
    cipher = ContactCipher([K1])
    sealed = cipher.seal("camille@exemple.fr", "cand-1", "email")
    assert sealed is not None
    raw = bytearray(base64.urlsafe_b64decode(sealed.split(":", 2)[2]))
    raw[-1] ^= 1
    with pytest.raises(ContactKeyError):
        cipher.open("enc1:k1:" + base64.urlsafe_b64encode(bytes(raw)).decode(), "cand-1", "email")


def test_after_a_rotation_old_values_open_and_need_resealing() -> None:
    old = ContactCipher([K1]).seal("camille@exemple.fr", "cand-1", "email")
    rotated = ContactCipher([K2, K1])
    assert rotated.open(old, "cand-1", "email") == "camille@exemple.fr"
    assert rotated.needs_reseal(old)
    assert not rotated.needs_reseal(rotated.seal("camille@exemple.fr", "cand-1", "email"))
    with pytest.raises(ContactKeyError, match="k1"):
        ContactCipher([K2]).open(old, "cand-1", "email")


def test_phone_is_found_under_any_configured_key_and_in_clear() -> None:
    before = ContactCipher([K1]).phone_index("+33612345678")
    rotated = ContactCipher([K2, K1])
    lookups = rotated.phone_lookups("+33612345678")
    assert before in lookups and rotated.phone_index("+33612345678") in lookups and "+33612345678" in lookups
    assert before != "+33612345678" and before not in ContactCipher([K2]).phone_lookups("+33612345678")


def test_without_keys_values_stay_in_clear_and_clear_values_read_with_keys() -> None:
    clear = ContactCipher()
    assert not clear.enabled and clear.seal("camille@exemple.fr", "c", "email") == "camille@exemple.fr"
    assert clear.phone_index("+33612345678") == "+33612345678"
    assert ContactCipher([K1]).open("camille@exemple.fr", "c", "email") == "camille@exemple.fr"
    assert ContactCipher([K1]).needs_reseal("camille@exemple.fr")


def test_key_setting_is_checked_and_a_new_key_parses() -> None:
    [(key_id, key)] = parse_keys(new_key_setting("k7"))
    assert key_id == "k7" and len(key) == 32
    for bad in ("k1", "k1:bm90LWJhc2U2NA", "k1:" + base64.b64encode(b"short").decode(), "k-1:" + "A" * 44):
        with pytest.raises(ValueError, match="contact key"):
            parse_keys(bad)
    with pytest.raises(ValueError, match="distinct"):
        parse_keys(f"k1:{base64.b64encode(b'1' * 32).decode()},k1:{base64.b64encode(b'2' * 32).decode()}")


def test_operator_gets_a_new_key_the_service_accepts() -> None:
    from typer.testing import CliRunner
    from vocation_notifications.cli import app

    result = CliRunner().invoke(app, ["contacts", "new-key", "k2"])
    assert result.exit_code == 0
    [(key_id, key)] = parse_keys(result.output.strip())
    assert key_id == "k2" and len(key) == 32
    assert CliRunner().invoke(app, ["contacts", "new-key", "k-2"]).exit_code != 0
