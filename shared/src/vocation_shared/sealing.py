"""Personal data sealed at rest: AES-256-GCM per field, keys named for rotation, a keyed index for phones.

The notifications service seals its contacts with it, the events service its archive's names,
emails and phones; both read `VOCATION_CONTACTS_KEYS`.

A sealed value reads `enc1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`; the candidate id and the
field's name are its associated data, so a value copied to another row or column does not open.
Phones are looked up (STOP replies) by `phone_index`: an HMAC-SHA256 of the number under a key
derived from each contact key, so a lookup tries every configured key's index (rotation-safe).

Without keys (development), values are stored as given and the phone is its own index. Values
stored in clear before keys were configured still read; `vocation notifications contacts reseal`
seals them (and re-seals values under an older key after a rotation).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "enc1:"
_NONCE_BYTES = 12


class ContactKeyError(ValueError):
    """A contact value cannot be opened: its key is not configured, or it was tampered with."""


def parse_keys(setting: str) -> list[tuple[str, bytes]]:
    """`id:base64key[,id:base64key…]` (32-byte keys, the first one seals) as (id, key) pairs."""
    keys: list[tuple[str, bytes]] = []
    for item in (part.strip() for part in setting.split(",")):
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        if not sep or not key_id.isalnum():
            raise ValueError("each contact key reads id:base64key, the id letters and digits")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"contact key {key_id!r} is not base64") from exc
        if len(key) != 32:
            raise ValueError(f"contact key {key_id!r} must be 32 bytes (AES-256), not {len(key)}")
        keys.append((key_id, key))
    if len({key_id for key_id, _ in keys}) != len(keys):
        raise ValueError("contact key ids must be distinct")
    return keys


def new_key_setting(key_id: str = "k1") -> str:
    """A fresh random key in the setting's form (for operators: `contacts new-key`)."""
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


class ContactCipher:
    """Seals and opens contact fields; `keys` first is the sealing key, the others only open."""

    def __init__(self, keys: Sequence[tuple[str, bytes]] = ()) -> None:
        self._current = keys[0][0] if keys else None
        self._aead = {key_id: AESGCM(key) for key_id, key in keys}
        self._index_keys = [
            hashlib.sha256(b"vocation contacts phone index\x00" + key).digest() for _, key in keys
        ]

    @property
    def enabled(self) -> bool:
        """Whether values are sealed (keys configured)."""
        return self._current is not None

    def seal(self, value: str | None, candidate_id: str, field: str) -> str | None:
        """The value as stored: sealed under the current key, or as given without keys."""
        if value is None or self._current is None:
            return value
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead[self._current].encrypt(nonce, value.encode(), _associated(candidate_id, field))
        return f"{PREFIX}{self._current}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, stored: str | None, candidate_id: str, field: str) -> str | None:
        """The value a stored one holds (values stored in clear read as they are)."""
        if stored is None or not stored.startswith(PREFIX):
            return stored
        key_id, _, encoded = stored[len(PREFIX) :].partition(":")
        aead = self._aead.get(key_id)
        if aead is None:
            raise ContactKeyError(f"contact sealed with key {key_id!r}, not in VOCATION_CONTACTS_KEYS")
        try:
            raw = base64.urlsafe_b64decode(encoded)
            return aead.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _associated(candidate_id, field)
            ).decode()
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise ContactKeyError(f"contact field {field} of {candidate_id} does not open") from exc

    def needs_reseal(self, stored: str | None) -> bool:
        """Whether a stored value is in clear (with keys configured) or sealed under an older key."""
        if stored is None or self._current is None:
            return False
        return not stored.startswith(f"{PREFIX}{self._current}:")

    def phone_index(self, phone: str | None) -> str | None:
        """What a phone is stored under for lookups: its keyed hash under the current key (or itself)."""
        if phone is None or not self._index_keys:
            return phone
        return _hmac(self._index_keys[0], phone)

    def phone_lookups(self, phone: str) -> list[str]:
        """Every index a phone may be stored under: each key's hash, and the number (rows in clear)."""
        return [phone, *(_hmac(key, phone) for key in self._index_keys)]


def _associated(candidate_id: str, field: str) -> bytes:
    return f"{candidate_id}\x00{field}".encode()


def _hmac(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
