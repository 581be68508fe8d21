"""Serve an ASGI app with uvicorn inside the caller's event loop, until cancelled or signalled."""

from __future__ import annotations

import uvicorn
from starlette.types import ASGIApp


async def serve(app: ASGIApp, host: str, port: int, *, access_log: bool = False) -> None:
    """Run `app` on host:port; returns when uvicorn stops (SIGINT/SIGTERM or `should_exit`)."""
    config = uvicorn.Config(app, host=host, port=port, access_log=access_log, log_config=None, lifespan="on")
    await uvicorn.Server(config).serve()
