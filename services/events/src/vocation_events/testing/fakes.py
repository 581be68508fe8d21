"""In-memory stand-ins for the gateway's ports, for unit tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI

from vocation_events.adapters.http import create_http_app
from vocation_events.adapters.rate_limits import InMemoryRateLimits
from vocation_events.auth import Authenticator
from vocation_events.core.ingestion import Record
from vocation_events.core.ownership import Refusal, decide
from vocation_events.core.partners import Partner, hash_api_key
from vocation_events.core.ratelimit import RateLimiter
from vocation_events.gateway import Gateway
from vocation_events.metrics import GatewayMetrics
from vocation_events.ports import Claims, OwnedEntity, Unavailable
from vocation_events.settings import EventsSettings

SOURCE = "urn:partner:test"
OTHER_SOURCE = "urn:partner:other"


class FakeClaimTx:
    def __init__(self, taken: frozenset[str], refused: Mapping[int, Refusal]) -> None:
        self._taken = taken
        self._refused = refused
        self.erased: list[str] = []

    @property
    def refused(self) -> Mapping[int, Refusal]:
        return self._refused

    @property
    def taken(self) -> frozenset[str]:
        return self._taken

    async def erase_candidate(self, candidate_id: str, source: str, event_id: str) -> None:
        self.erased.append(candidate_id)


class FakeClaims:
    """Claims kept in a set, owners in a dict; committed only when the block ends without error."""

    def __init__(self) -> None:
        self.accepted: set[tuple[str, str]] = set()
        self.owners: dict[tuple[str, str], tuple[str, datetime]] = {}
        self.erased: list[str] = []
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def claim(self, claims: Claims) -> AsyncIterator[FakeClaimTx]:
        async with self._lock:
            assert len(set(claims.ids)) == len(claims.ids), "the ids of one claim are distinct"
            named = {(r.kind, r.entity_id) for refs in claims.refs for r in refs}
            owners = {k: self.owners[k][0] for k in named if k in self.owners}
            refused, new_owners = decide(claims.refs, owners, claims.source)
            keys = {(claims.source, event_id) for i, event_id in enumerate(claims.ids) if i not in refused}
            won = keys - self.accepted
            tx = FakeClaimTx(frozenset(event_id for _, event_id in keys - won), refused)
            yield tx
            self.accepted |= won
            now = datetime.now(UTC)
            self.owners.update({k: (claims.source, now) for k in new_owners})
            self.erased += tx.erased

    async def owned(self, source: str, kind: str, after: str | None, limit: int) -> list[OwnedEntity]:
        found = sorted(
            OwnedEntity(k, i, since)
            for (k, i), (owner, since) in self.owners.items()
            if owner == source and k == kind and (after is None or i > after)
        )
        return found[:limit]


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
        self.partners.add("key-other", Partner("other", OTHER_SOURCE, frozenset({"*"})))
        self.metrics = GatewayMetrics()
        self.gateway = Gateway(self.claims, self.sink, self.metrics)
        self.app: FastAPI = create_http_app(
            gateway=self.gateway,
            authenticator=Authenticator(self.partners, ttl_s=0),
            limiter=InMemoryRateLimits(RateLimiter(1000, 2000, 1), time.monotonic),
            metrics=self.metrics,
            settings=self.settings,
            owners=self.claims,
        )
