"""Prometheus metrics of the events service (`vocation_events_*`), in a registry of its own (several
apps may share a process); the `Metrics` port of the application layer."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from vocation_shared.contracts.events import EVENT_TYPES

UNKNOWN = "unknown"


class PrometheusMetrics:
    """Events accepted, duplicate and rejected by type and partner; requests; publish latency; archived."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.events = Counter(
            "vocation_events_gateway_events",
            "Events received by the gateway, by outcome (accepted, duplicate, rejected).",
            ["outcome", "type", "partner"],
            registry=self.registry,
        )
        self.requests = Counter(
            "vocation_events_gateway_requests",
            "HTTP ingestion requests by endpoint and status code.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.publish_seconds = Histogram(
            "vocation_events_gateway_publish_seconds",
            "Time from the first send to the last Kafka acknowledgement of one request's records.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.archived_events = Counter(
            "vocation_events_archived",
            "Events stored in the archive, by topic.",
            ["topic"],
            registry=self.registry,
        )

    def count(self, outcome: str, event_type: object, partner: str, n: int = 1) -> None:
        """Count `n` events; unknown types share one label so bad input cannot explode the series."""
        label = event_type if isinstance(event_type, str) and event_type in EVENT_TYPES else UNKNOWN
        self.events.labels(outcome, label, partner).inc(n)

    def published(self, seconds: float) -> None:
        """One request's records were acknowledged `seconds` after the first send."""
        self.publish_seconds.observe(seconds)

    def archived(self, topic: str, n: int) -> None:
        """`n` events of `topic` were archived."""
        self.archived_events.labels(topic).inc(n)
