"""One backoff for every retry of the platform: doubling, capped, jittered, honouring Retry-After."""

from __future__ import annotations

import pytest
from vocation_shared.backoff import Backoff
from vocation_shared.kafka.consumer import RetryPolicy

pytestmark = pytest.mark.unit


def test_the_delay_doubles_then_stops_at_the_cap() -> None:
    backoff = Backoff(initial_s=1.0, max_s=10.0, max_attempts=8)
    highest = [backoff.delay(n, rand=lambda: 0.999999) for n in range(1, 7)]
    assert highest == pytest.approx([1.0, 2.0, 4.0, 8.0, 10.0, 10.0], rel=1e-5)


def test_jitter_spreads_clients_that_failed_together_over_half_the_delay() -> None:
    backoff = Backoff(initial_s=4.0, max_s=100.0, max_attempts=8)
    delays = {round(backoff.delay(1), 6) for _ in range(200)}
    assert len(delays) > 100
    assert all(2.0 <= d < 4.0 for d in delays)


def test_a_longer_retry_after_wins_but_never_past_the_cap() -> None:
    backoff = Backoff(initial_s=1.0, max_s=60.0, max_attempts=8)
    assert backoff.delay(1, retry_after_s=30.0) == 30.0
    assert backoff.delay(1, retry_after_s=3600.0) == 60.0
    assert backoff.delay(3, retry_after_s=0.1, rand=lambda: 0.0) == 2.0


def test_the_budget_is_spent_after_max_attempts() -> None:
    backoff = Backoff(initial_s=1.0, max_s=60.0, max_attempts=3)
    assert not backoff.exhausted(2)
    assert backoff.exhausted(3)


def test_consumers_retry_on_the_same_backoff() -> None:
    policy = RetryPolicy(initial_s=1.0, max_s=8.0, max_attempts=3)
    assert all(2.0 <= policy.delay(3) < 4.0 for _ in range(50))
