"""Prometheus metrics of the catalogue (registered once, at import, in the default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVENTS_APPLIED = Counter(
    "vocation_catalogue_events_total",
    "Entity events handled by the read models, by type and outcome (applied, skipped, handled).",
    ["type", "outcome"],
)
BOOKINGS = Counter(
    "vocation_catalogue_immersion_outcomes_total",
    "Outcomes published for immersion requests (booked, refused, erased), republications included.",
    ["outcome"],
)
SEARCH_SECONDS = Histogram(
    "vocation_catalogue_search_seconds",
    "Time to answer a search, by catalogue.",
    ["catalogue"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
)
SLOT_WAITS = Counter(
    "vocation_catalogue_requests_waiting_for_slot_total",
    "Times an immersion request was put back because its slot may not be read yet.",
)


class PrometheusMetrics:
    """The handlers' `Metrics` port on the counters above."""

    def event_handled(self, type: str, outcome: str) -> None:
        """Count an entity event by type and outcome."""
        EVENTS_APPLIED.labels(type=type, outcome=outcome).inc()

    def immersion_outcome(self, outcome: str) -> None:
        """Count an immersion request's outcome."""
        BOOKINGS.labels(outcome=outcome).inc()

    def request_waited(self) -> None:
        """Count a request put back for its slot."""
        SLOT_WAITS.inc()
