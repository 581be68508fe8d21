"""Serve an ASGI app with uvicorn inside the caller's event loop, until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp


class _Server(uvicorn.Server):
    """uvicorn, minus its habit of raising the signal again once stopped.

    uvicorn re-raises SIGINT/SIGTERM after its shutdown, which would kill the process
    before the caller's context managers stop the consumers and close the pool. Here a
    signal only asks the server to exit; the caller then closes everything in order.
    """

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)


async def serve(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    access_log: bool = False,
    sockets: list[socket.socket] | None = None,
    forwarded_allow_ips: list[str] | None = None,
) -> None:
    """Run `app` on host:port (or on pre-bound `sockets`); returns once a signal asked it to stop.

    `forwarded_allow_ips`: the proxies whose `X-Forwarded-For` names the client (addresses or
    networks); `[]` believes no one (the client is the socket's peer); None keeps uvicorn's
    default (loopback only).
    """
    config = uvicorn.Config(app, host=host, port=port, access_log=access_log, log_config=None, lifespan="on")
    if forwarded_allow_ips is not None:
        config.proxy_headers = bool(forwarded_allow_ips)
        config.forwarded_allow_ips = forwarded_allow_ips
    await _Server(config).serve(sockets=sockets)
