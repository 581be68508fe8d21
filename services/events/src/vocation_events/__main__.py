"""`python -m vocation_events`: the partner gateway and the event archive, until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys

import uvicorn
from vocation_shared.logs import configure_logging, get_logger
from vocation_shared.runtime import tune_for_throughput
from vocation_shared.secrets import fail_closed

from vocation_events.app import running_service
from vocation_events.settings import EventsSettings


async def _serve(settings: EventsSettings, sock: socket.socket | None) -> None:
    async with running_service(settings) as service:
        config = uvicorn.Config(
            service.api,
            host=settings.http_host,
            port=settings.http_port,
            access_log=False,
            log_config=None,
            lifespan="on",
        )
        await uvicorn.Server(config).serve(sockets=[sock] if sock is not None else None)


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket of this worker's own on the shared port (`SO_REUSEPORT`).

    With one socket shared by every worker, the worker that wakes first accepts the whole burst
    of new connections (asyncio accepts up to 100 per wake-up): a partner's few keep-alive
    connections all land on one process and the others idle. With a socket each, the kernel
    spreads the connections over the workers.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _prefork(settings: EventsSettings) -> int:
    """`http_workers` processes, each listening on the port; only the first archives and sends webhooks."""
    children: list[int] = []
    for index in range(settings.http_workers):
        pid = os.fork()
        if pid == 0:
            others = {"archive_enabled": False, "webhooks_enabled": False}
            worker = settings if index == 0 else settings.model_copy(update=others)
            asyncio.run(_serve(worker, _listen(settings.http_host, settings.http_port)))
            os._exit(0)
        children.append(pid)

    def forward(signum: int, _: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    for child in children:
        _, code = os.waitpid(child, 0)
        status = status or os.waitstatus_to_exitcode(code)
    return status


def main() -> None:
    """Read the settings, configure logging, serve (in `http_workers` processes)."""
    settings = EventsSettings()
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    # Without contacts keys the archive would hold names, emails and phones in clear: only in
    # development mode (then it says so).
    fail_closed(settings.secret_problems(), dev_mode=settings.dev_mode, log=get_logger("vocation_events"))
    # The collector off the hot path: about 40 % of the gateway's CPU in the benchmark otherwise.
    tune_for_throughput(settings.gc_gen0_threshold)
    if settings.http_workers > 1:
        sys.exit(_prefork(settings))
    asyncio.run(_serve(settings, None))


if __name__ == "__main__":
    main()
