"""The environment a test starts a service process with."""

from __future__ import annotations

import os
from collections.abc import Mapping


def service_environment(
    kafka_bootstrap: str,
    database_url: str,
    http_port: int,
    *,
    base: Mapping[str, str] | None = None,
    **variables: str,
) -> dict[str, str]:
    """`base` (the test's own environment by default) with the broker, the database and the HTTP port
    a service process reads, then `variables` (full names: `VOCATION_DEV_MODE="true"`)."""
    return {
        **(os.environ if base is None else base),
        "VOCATION_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "VOCATION_DATABASE_URL": database_url,
        "VOCATION_HTTP_PORT": str(http_port),
        **variables,
    }
