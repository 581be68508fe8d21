"""The ingestion use case on fakes: claims, erasure, failures, and the API key cache."""

from __future__ import annotations

import pytest
from vocation_events.auth import Authenticator
from vocation_events.gateway import Gateway
from vocation_events.metrics import GatewayMetrics
from vocation_events.ports import Unavailable
from vocation_events.testing.fakes import FakeClaims, FakePartners, FakeSink, partner
from vocation_shared.testing import samples

pytestmark = pytest.mark.unit


def withdrawal(candidate_id: str, erase: bool) -> dict[str, object]:
    return samples.cloud_event(
        "fr.vocation.candidate.withdrawn.v1",
        candidate_id,
        {"candidate_id": candidate_id, "erasure_requested": erase},
        id=f"bye-{candidate_id}",
    )


async def test_an_erasure_forgets_the_candidate_in_the_claims_transaction() -> None:
    claims, sink = FakeClaims(), FakeSink()
    outcomes = await Gateway(claims, sink, GatewayMetrics()).ingest(
        partner(), [withdrawal("cand-1", True), withdrawal("cand-2", False)]
    )
    assert [o.status for o in outcomes] == ["accepted", "accepted"]
    assert claims.erased == ["cand-1"]
    assert [(r.topic, r.key, r.value is None) for r in sink.records] == [
        ("candidates", b"cand-1", False),
        ("candidates", b"cand-1", True),
        ("candidate-contacts", b"cand-1", True),
        ("candidates", b"cand-2", False),
    ]


async def test_a_failed_write_claims_nothing_and_accepts_nothing() -> None:
    claims, sink = FakeClaims(), FakeSink()
    sink.down = True
    gateway = Gateway(claims, sink, GatewayMetrics())
    with pytest.raises(Unavailable):
        await gateway.ingest(partner(), [withdrawal("cand-1", True)])
    assert claims.accepted == set()
    assert claims.erased == []


async def test_an_api_key_is_looked_up_once_per_cache_period() -> None:
    partners = FakePartners()
    partners.add("key-1", partner())
    now = [0.0]
    auth = Authenticator(partners, ttl_s=5, clock=lambda: now[0])
    assert (await auth.partner("key-1")) == partner()
    partners.by_hash.clear()  # revoked
    assert (await auth.partner("key-1")) is not None  # still cached
    now[0] = 6
    assert (await auth.partner("key-1")) is None
    assert (await auth.partner(None)) is None
    assert (await auth.partner("x" * 500)) is None
