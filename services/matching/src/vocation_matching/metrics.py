"""Prometheus metrics of the matching service (one registry per running service)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from vocation_shared.contracts.vocabulary import OfferKind

from vocation_matching.core.state import MatchingState


class Metrics:
    """Index sizes, match latency, matches emitted and withdrawn, state rebuild."""

    def __init__(self, state: MatchingState, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        Gauge("matching_candidates_indexed", "Candidates in the in-memory index.", registry=r).set_function(
            lambda: len(state.candidates)
        )
        offers = Gauge("matching_offers_indexed", "Offers known, by kind.", ["kind"], registry=r)
        for kind in OfferKind:
            offers.labels(kind=str(kind)).set_function(_counter_of(state, kind))
        self.match_seconds = Histogram(
            "matching_match_seconds",
            "Time to find the best matches of one offer or one candidate, in process.",
            ["direction"],
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
            registry=r,
        )
        self.emitted = Counter(
            "matching_matches_emitted", "match-found events published.", ["kind"], registry=r
        )
        self.withdrawn = Counter(
            "matching_matches_withdrawn", "match-withdrawn events published.", ["reason"], registry=r
        )
        self.reacted = Counter(
            "matching_events_reacted",
            "Events of the group's topics handled (their matches recorded and acknowledged).",
            ["direction"],
            registry=r,
        )
        self.state_events = Counter(
            "matching_state_events", "Records applied to the in-memory state.", ["topic"], registry=r
        )
        self.rebuild_seconds = Gauge(
            "matching_rebuild_seconds", "Time the last rebuild of the state took.", registry=r
        )
        self.ready = Gauge("matching_ready", "1 once the state is rebuilt.", registry=r)


def _counter_of(state: MatchingState, kind: OfferKind) -> Callable[[], float]:
    return lambda: float(state.offers.count(kind))
