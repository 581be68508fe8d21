"""Prometheus metrics: outcomes by channel and purpose, queue depth, send latency."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """The service's metrics, in their own registry (several apps may live in one test process)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.outcomes = Counter(
            "vocation_notifications_total",
            "Notifications by channel, purpose and outcome (sent, failed, retried, deferred, held, suppressed).",
            ["channel", "purpose", "outcome"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "vocation_notifications_queue_depth",
            "Outbox rows not finished yet, by state (pending, held, sending).",
            ["state"],
            registry=self.registry,
        )
        self.send_latency = Gauge(
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
        self.too_old = Counter(
            "vocation_notifications_facts_too_old_total",
            "Facts not told because older than NOTICE_MAX_AGE_H when they arrived, by kind (match, booking).",
            ["kind"],
            registry=self.registry,
        )
        self.consent_changes = Counter(
            "vocation_notifications_consent_withdrawals_total",
            "Consents withdrawn here, by origin (sms_stop, email_unsubscribe).",
            ["origin"],
            registry=self.registry,
        )
        self.opt_out_kept = Counter(
            "vocation_notifications_opt_out_kept_total",
            "Contact states claiming a channel the candidate opted out of, kept off, by channel.",
            ["channel"],
            registry=self.registry,
        )

    def outcome(self, channel: str, purpose: str, outcome: str) -> None:
        """Count one outcome."""
        self.outcomes.labels(channel=channel, purpose=purpose, outcome=outcome).inc()
