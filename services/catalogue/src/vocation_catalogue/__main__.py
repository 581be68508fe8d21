"""`python -m vocation_catalogue`: configure logging, run the catalogue and serve its HTTP API."""

from __future__ import annotations

import asyncio
import signal
from types import FrameType

from vocation_shared.http import serve
from vocation_shared.logs import configure_logging, get_logger
from vocation_shared.runtime import tune_for_throughput
from vocation_shared.secrets import fail_closed

from vocation_catalogue.app import running_catalogue
from vocation_catalogue.settings import CatalogueSettings

_received: list[int] = []


def _remember(signum: int, _: FrameType | None) -> None:
    """Record SIGTERM/SIGINT instead of dying at once.

    uvicorn handles them while it serves, then raises them again once it has stopped; with
    this handler in place that no longer kills the process before the consumers leave their
    groups and the pool closes.
    """
    _received.append(signum)


async def main(settings: CatalogueSettings) -> None:
    """Run until SIGINT/SIGTERM, then close everything in order."""
    log = get_logger("vocation_catalogue")
    async with running_catalogue(settings) as catalogue:
        log.info("catalogue.started", host=settings.http_host, port=settings.http_port)
        if not _received:
            await serve(catalogue.http, settings.http_host, settings.http_port)
    log.info("catalogue.stopped")


def run() -> None:
    """Entry point."""
    settings = CatalogueSettings()
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    # Fail closed on weak secrets before any connection (the pseudonym key of its erasure ledger);
    # in development mode, say so.
    fail_closed([settings.pseudonym_key_problem()], dev_mode=settings.dev_mode, log=get_logger(__name__))
    tune_for_throughput()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _remember)
    asyncio.run(main(settings))


if __name__ == "__main__":
    run()
