"""Who is calling: API keys from `Authorization: Bearer` or `X-API-Key`, looked up by hash, cached briefly."""

from __future__ import annotations

import time
from collections.abc import Callable

from vocation_events.core.partners import Partner, hash_api_key
from vocation_events.ports import PartnerStore

MAX_KEY_LENGTH = 200
MAX_CACHED = 10_000


class Authenticator:
    """Finds the active partner of an API key; a key is trusted for `ttl_s` (the revocation delay)."""

    def __init__(
        self, partners: PartnerStore, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._partners = partners
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[bytes, tuple[float, Partner | None]] = {}

    async def partner(self, key: str | None) -> Partner | None:
        """The partner holding `key`, or None if the key is missing, unknown or revoked."""
        if not key or len(key) > MAX_KEY_LENGTH:
            return None
        digest = hash_api_key(key)
        now = self._clock()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        found = await self._partners.by_key_hash(digest)
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        self._cache[digest] = (now, found)
        return found
