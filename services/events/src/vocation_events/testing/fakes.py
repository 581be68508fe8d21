"""In-memory stand-ins for the gateway's ports, for unit tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI

from vocation_events.adapters.http import create_api
from vocation_events.adapters.rate_limits import InMemoryRateLimits
from vocation_events.auth import Authenticator
from vocation_events.core.ingestion import Record
from vocation_events.core.partners import Partner, hash_api_key
from vocation_events.core.ratelimit import RateLimiter
from vocation_events.gateway import Gateway
from vocation_events.metrics import GatewayMetrics
from vocation_events.ports import Claims, Unavailable
from vocation_events.settings import EventsSettings

SOURCE = "urn:partner:test"


class FakeClaimTx:
    def __init__(self, taken: frozenset[str]) -> None:
        self._taken = taken
        self.erased: list[str] = []

    @property
    def taken(self) -> frozenset[str]:
        return self._taken

    async def erase_candidate(self, candidate_id: str, source: str, event_id: str) -> None:
        self.erased.append(candidate_id)


class FakeClaims:
    """Claims kept in a set; committed only when the block ends without error."""

    def __init__(self) -> None:
        self.accepted: set[tuple[str, str]] = set()
        self.erased: list[str] = []
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def claim(self, claims: Claims) -> AsyncIterator[FakeClaimTx]:
        async with self._lock:
            keys = {(claims.source, event_id) for event_id in claims.ids}
            assert len(keys) == len(claims.ids), "the ids of one claim are distinct"
            won = keys - self.accepted
            tx = FakeClaimTx(frozenset(event_id for _, event_id in keys - won))
            yield tx
            self.accepted |= won
            self.erased += tx.erased


class FakeSink:
    """Keeps what was written; `down` makes every write fail as if Kafka were unreachable."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.down = False

    async def write(self, records: Sequence[Record]) -> None:
        if self.down:
            raise Unavailable("Kafka unreachable: KafkaConnectionError")
        self.records.extend(records)

    async def ping(self) -> bool:
        return not self.down


class FakePartners:
    def __init__(self) -> None:
        self.by_hash: dict[bytes, Partner] = {}

    def add(self, key: str, partner: Partner) -> None:
        self.by_hash[hash_api_key(key)] = partner

    async def by_key_hash(self, key_hash: bytes) -> Partner | None:
        return self.by_hash.get(key_hash)


def partner(name: str = "acme", types: frozenset[str] = frozenset({"*"}), **kwargs: object) -> Partner:
    return Partner(name, SOURCE, types, **kwargs)  # type: ignore[arg-type]


class FakeWorld:
    """A gateway app wired to fakes, with two partners: `key-all` (every type) and `key-vac`."""

    def __init__(self, settings: EventsSettings | None = None) -> None:
        self.settings = settings or EventsSettings()
        self.claims = FakeClaims()
        self.sink = FakeSink()
        self.partners = FakePartners()
        self.partners.add("key-all", partner())
        self.partners.add("key-vac", partner("vacancies-only", frozenset({"fr.vocation.vacancy.posted.v1"})))
        self.partners.add("key-slow", partner("slow", rate_per_s=1.0, burst=1.0))
        self.metrics = GatewayMetrics()
        self.gateway = Gateway(self.claims, self.sink, self.metrics)
        self.app: FastAPI = create_api(
            gateway=self.gateway,
            authenticator=Authenticator(self.partners, ttl_s=0),
            limiter=InMemoryRateLimits(RateLimiter(1000, 2000, 1), time.monotonic),
            metrics=self.metrics,
            settings=self.settings,
        )
