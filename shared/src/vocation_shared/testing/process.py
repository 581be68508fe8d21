"""A service process started by a test: its environment, and the process itself."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from typing import IO


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


def start_service(
    module: str, env: Mapping[str, str], output: int | IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    """`python -m <module>` with `env`, its stdout and stderr both to `output` (None: the test's own)."""
    return subprocess.Popen(
        [sys.executable, "-m", module],
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
    )
