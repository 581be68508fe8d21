"""Prometheus metrics of the catalogue (registered once, at import, in the default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVENTS_APPLIED = Counter(
    "catalogue_events_total",
    "Entity events handled by the read models, by type and outcome (applied, skipped).",
    ["type", "outcome"],
)
BOOKINGS = Counter(
    "catalogue_immersion_outcomes_total",
    "Outcomes published for immersion requests (booked, refused), republications included.",
    ["outcome"],
)
SEARCH_SECONDS = Histogram(
    "catalogue_search_seconds",
    "Time to answer a search, by catalogue.",
    ["catalogue"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
)
SLOT_WAITS = Counter(
    "catalogue_requests_waiting_for_slot_total",
    "Times an immersion request was put back because its slot may not be read yet.",
)
