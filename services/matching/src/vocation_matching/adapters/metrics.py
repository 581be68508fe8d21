"""Prometheus metrics of the matching service (one registry per running service), `vocation_matching_*`."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from vocation_shared.contracts.vocabulary import MatchWithdrawalReason, OfferKind

from vocation_matching.core.state import MatchingState


class PrometheusMetrics:
    """Index sizes, match latency, matches emitted and withdrawn, state rebuild (`Metrics` port and more)."""

    def __init__(self, state: MatchingState, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        Gauge(
            "vocation_matching_candidates_indexed", "Candidates in the in-memory index.", registry=r
        ).set_function(lambda: len(state.candidates))
        offers = Gauge("vocation_matching_offers_indexed", "Offers known, by kind.", ["kind"], registry=r)
        for kind in OfferKind:
            offers.labels(kind=str(kind)).set_function(_counter_of(state, kind))
        self.match_seconds = Histogram(
            "vocation_matching_match_seconds",
            "Time to find the best matches of one offer or one candidate, in process.",
            ["direction"],
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
            registry=r,
        )
        self.emitted_total = Counter(
            "vocation_matching_matches_emitted", "match-found events published.", ["kind"], registry=r
        )
        self.withdrawn_total = Counter(
            "vocation_matching_matches_withdrawn", "match-withdrawn events published.", ["reason"], registry=r
        )
        self.reacted_total = Counter(
            "vocation_matching_events_reacted",
            "Events of the group's topics handled (their matches recorded and acknowledged).",
            ["direction"],
            registry=r,
        )
        self.state_events = Counter(
            "vocation_matching_state_events", "Records applied to the in-memory state.", ["topic"], registry=r
        )
        self.rebuild_seconds = Gauge(
            "vocation_matching_rebuild_seconds", "Time the last rebuild of the state took.", registry=r
        )
        self.ready = Gauge("vocation_matching_ready", "1 once the state is rebuilt.", registry=r)

    def matched(self, direction: str, seconds: float) -> None:
        """One offer's or candidate's best matches found in `seconds`."""
        self.match_seconds.labels(direction=direction).observe(seconds)

    def emitted(self, kind: OfferKind, count: int) -> None:
        """`count` match-found events of this offer kind published."""
        self.emitted_total.labels(kind=str(kind)).inc(count)

    def withdrawn(self, reason: MatchWithdrawalReason, count: int) -> None:
        """`count` match-withdrawn events published for this reason."""
        self.withdrawn_total.labels(reason=str(reason)).inc(count)

    def reacted(self, direction: str, count: int) -> None:
        """`count` events handled to the end."""
        self.reacted_total.labels(direction=direction).inc(count)


def _counter_of(state: MatchingState, kind: OfferKind) -> Callable[[], float]:
    return lambda: float(state.offers.count(kind))
