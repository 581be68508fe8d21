"""`python -m vocation_matching`: logging, then the service and its HTTP endpoints until stopped."""

from __future__ import annotations

import asyncio

from vocation_shared.http import serve
from vocation_shared.logs import configure_logging, get_logger
from vocation_shared.runtime import tune_for_throughput
from vocation_shared.secrets import fail_closed

from vocation_matching.app import running_service
from vocation_matching.settings import MatchingSettings


async def main() -> None:
    """Run the matching service until SIGINT/SIGTERM."""
    settings = MatchingSettings()
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    # Fail closed on weak secrets before any connection (none of its own yet); in development mode, say so.
    fail_closed([], dev_mode=settings.dev_mode, log=get_logger(__name__))
    tune_for_throughput()
    async with running_service(settings) as service:
        await serve(service.app, settings.http_host, settings.http_port)


if __name__ == "__main__":
    asyncio.run(main())
