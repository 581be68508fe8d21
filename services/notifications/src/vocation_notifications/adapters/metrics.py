"""Prometheus metrics: outcomes by channel and purpose, queue depth, send latency (the `Metrics` port)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from vocation_shared.contracts.vocabulary import Channel, ConsentOrigin, NotificationPurpose


class PrometheusMetrics:
    """The `Metrics` port in its own registry (several apps may live in one test process); every name
    starts with `vocation_notifications_`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.outcomes = Counter(
            "vocation_notifications_total",
            "Notifications by channel, purpose and outcome (sent, failed, retried, deferred, held, suppressed).",
            ["channel", "purpose", "outcome"],
            registry=self.registry,
        )
        self.depth = Gauge(
            "vocation_notifications_queue_depth",
            "Outbox rows not finished yet, by state (pending, held, sending).",
            ["state"],
            registry=self.registry,
        )
        self.last_send = Gauge(
            "vocation_notifications_last_send_seconds",
            "Duration of the last provider call, by channel.",
            ["channel"],
            registry=self.registry,
        )
        self.send_seconds = Histogram(
            "vocation_notifications_send_seconds",
            "Provider call duration, by channel.",
            ["channel"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.too_old_facts = Counter(
            "vocation_notifications_facts_too_old_total",
            "Facts not told because older than NOTICE_MAX_AGE_H when they arrived, by kind (match, booking).",
            ["kind"],
            registry=self.registry,
        )
        self.consent_withdrawals = Counter(
            "vocation_notifications_consent_withdrawals_total",
            "Consents withdrawn here, by origin (sms_stop, email_unsubscribe).",
            ["origin"],
            registry=self.registry,
        )
        self.opt_outs_kept = Counter(
            "vocation_notifications_opt_out_kept_total",
            "Contact states claiming a channel the candidate opted out of, kept off, by channel.",
            ["channel"],
            registry=self.registry,
        )

    def outcome(self, channel: Channel, purpose: NotificationPurpose, outcome: str) -> None:
        """Count one outcome."""
        self.outcomes.labels(channel=str(channel), purpose=str(purpose), outcome=outcome).inc()

    def queue_depth(self, state: str, rows: int) -> None:
        """Set the depth of one state."""
        self.depth.labels(state=state).set(rows)

    def send_duration(self, channel: Channel, seconds: float) -> None:
        """Observe one provider call."""
        self.send_seconds.labels(channel=str(channel)).observe(seconds)
        self.last_send.labels(channel=str(channel)).set(seconds)

    def too_old(self, kind: str, facts: int = 1) -> None:
        """Count facts too old to tell."""
        self.too_old_facts.labels(kind=kind).inc(facts)

    def consent_withdrawn(self, origin: ConsentOrigin) -> None:
        """Count one withdrawal."""
        self.consent_withdrawals.labels(origin=str(origin)).inc()

    def opt_out_kept(self, channel: Channel) -> None:
        """Count one claim kept off."""
        self.opt_outs_kept.labels(channel=str(channel)).inc()
