"""HTTP pieces every service shares: health, readiness and Prometheus metrics endpoints, and serving."""

from vocation_shared.http.operations import (
    ReadinessCheck,
    kafka_reachable,
    operations_router,
    postgres_reachable,
)
from vocation_shared.http.serve import serve

__all__ = ["ReadinessCheck", "kafka_reachable", "operations_router", "postgres_reachable", "serve"]
