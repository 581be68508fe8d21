"""Keyed pseudonyms: what a ledger keeps of a person's id, so that an erasure leaves no id behind.

Context: some records must outlive a person's erasure (the erasure ledger that makes a late event
about them ignored, idempotency records of handled events, decided immersion requests kept for
redelivery). They need to recognise the id again, not to read it.

Decision: such records keep `Pseudonymizer.of(kind, id)`, an HMAC-SHA256 of the kind and the id
under one secret key per deployment (`VOCATION_PSEUDONYM_KEY`, the same in every service), never
the id itself. Recognising an id is computing its pseudonym and looking it up; nobody reading a
table or a backup can go back from the pseudonym to the id without the key.

Consequence: the key is not rotated like the contacts keys (a new key would make every stored
pseudonym unrecognisable: erased people's late events would be applied again). It is kept with the
other secrets and fails closed like them; development mode allows the public default below.
"""

from __future__ import annotations

import hmac

PSEUDONYM_KEY_VARIABLE = "VOCATION_PSEUDONYM_KEY"
DEVELOPMENT_PSEUDONYM_KEY = "vocation-development-pseudonym-key-never-in-production"
PREFIX = "ps1_"
"""Marks a pseudonym (and its scheme version) wherever it is stored."""


class Pseudonymizer:
    """Turns an entity id into its keyed pseudonym, the same in every service of a deployment."""

    __slots__ = ("_key",)

    def __init__(self, key: str | bytes) -> None:
        raw = key.encode() if isinstance(key, str) else key
        if not raw:
            raise ValueError(f"{PSEUDONYM_KEY_VARIABLE} is empty")
        self._key = raw

    def of(self, kind: str, entity_id: str) -> str:
        """The pseudonym of `entity_id` of `kind` (e.g. "candidate"): 44 ASCII characters (hex: cheap)."""
        digest = hmac.digest(self._key, f"{kind}\x00{entity_id}".encode(), "sha256")
        return PREFIX + digest[:20].hex()

    def candidate(self, candidate_id: str) -> str:
        """The pseudonym of a candidate id."""
        return self.of("candidate", candidate_id)

    def __repr__(self) -> str:
        return "Pseudonymizer(<key hidden>)"
