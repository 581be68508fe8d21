"""Contacts encrypted at rest: the shared sealing (`vocation_shared.sealing`), under its old name."""

from vocation_shared.sealing import PREFIX, ContactCipher, ContactKeyError, new_key_setting, parse_keys

__all__ = ["PREFIX", "ContactCipher", "ContactKeyError", "new_key_setting", "parse_keys"]
