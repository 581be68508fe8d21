"""Serve a service: its resources opened, its ASGI app on uvicorn, everything closed in order on SIGTERM."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Protocol, TypeVar

import uvicorn
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from starlette.types import ASGIApp

from vocation_shared.http.workers import STARTUP_FAILED, STOP_SIGNALS, listen, supervise
from vocation_shared.logs import configure_logging, get_logger
from vocation_shared.runtime import DEFAULT_GEN0_THRESHOLD, tune_for_throughput
from vocation_shared.secrets import SecretProblem, fail_closed
from vocation_shared.settings import CommonSettings

GRACEFUL_S = 10
"""How long requests in flight may take to finish once the server was asked to stop."""


class ServesHttp(Protocol):
    """A running service: what `run_service` serves is its `.http` ASGI app."""

    @property
    def http(self) -> ASGIApp:
        """The service's ASGI app."""
        ...


SettingsT = TypeVar("SettingsT", bound=BaseSettings)
S = TypeVar("S", bound=CommonSettings)
T = TypeVar("T", bound="ServesHttp")


class _Server(uvicorn.Server):
    """uvicorn, minus its habit of raising the signal again once stopped.

    uvicorn re-raises SIGINT/SIGTERM after its shutdown, which would kill the process
    before the caller's context managers stop the consumers and close the pool. Here a
    signal (or the caller's `stop` event) only asks the server to exit; the caller then
    closes everything in order.
    """

    def __init__(self, config: uvicorn.Config, stop: asyncio.Event | None) -> None:
        super().__init__(config)
        self._stop = stop

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        if self._stop is not None:  # the caller handles the signals and sets `stop`
            yield
            return
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)


async def serve(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    access_log: bool = False,
    sockets: list[socket.socket] | None = None,
    forwarded_allow_ips: list[str] | None = None,
    stop: asyncio.Event | None = None,
    graceful_s: int = GRACEFUL_S,
) -> None:
    """Run `app` on host:port (or on pre-bound `sockets`); returns once SIGINT/SIGTERM (or `stop`) asked it to.

    `forwarded_allow_ips`: the proxies whose `X-Forwarded-For` names the client (addresses or
    networks); `[]` believes no one (the client is the socket's peer); None keeps uvicorn's
    default (loopback only). Requests in flight get `graceful_s` to finish.
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=access_log,
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=graceful_s,
    )
    if forwarded_allow_ips is not None:
        config.proxy_headers = bool(forwarded_allow_ips)
        config.forwarded_allow_ips = forwarded_allow_ips
    server = _Server(config, stop)

    async def exit_on_stop() -> None:
        assert stop is not None
        await stop.wait()
        server.should_exit = True

    watching = asyncio.create_task(exit_on_stop()) if stop is not None else None
    try:
        await server.serve(sockets=sockets)
    finally:
        if watching is not None:
            watching.cancel()


def load_settings(kind: type[SettingsT]) -> SettingsT:
    """The settings from the environment; a bad value stops the process with one line per error."""
    try:
        return kind()
    except ValidationError as exc:
        prefix = str(kind.model_config.get("env_prefix", ""))
        lines = [
            f"{prefix}{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors(include_input=False)
        ]
        raise SystemExit("\n".join(lines)) from None


def prepare_process(
    settings: CommonSettings,
    secret_problems: Sequence[SecretProblem | None] = (),
    *,
    gen0_threshold: int = DEFAULT_GEN0_THRESHOLD,
) -> None:
    """What every service does first: logging, refusing weak secrets (before any connection), GC tuning."""
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    fail_closed(secret_problems, dev_mode=settings.dev_mode, log=get_logger(settings.service_name))
    tune_for_throughput(gen0_threshold)


def run_service(
    settings: S,
    service: Callable[[S], AbstractAsyncContextManager[T]],
    *,
    workers: int = 1,
    worker_settings: Callable[[S, int], S] | None = None,
    forwarded_allow_ips: list[str] | None = None,
    on_started: Callable[[T], None] | None = None,
) -> None:
    """Run the service and serve its `.http` app until SIGTERM/SIGINT, then close it in order; exits the process.

    It listens on `settings.http_host:settings.http_port`.

    With `workers` > 1 the port is served by that many processes under `workers.supervise`
    (each with its own `SO_REUSEPORT` socket, `worker_settings(settings, index)` for its own
    settings); one that dies is started again. With one, this process is the worker.
    """
    host, port = settings.http_host, settings.http_port
    if workers <= 1:
        asyncio.run(_run(settings, service, host, port, None, forwarded_allow_ips, on_started))
        return

    def work(index: int) -> int:
        own = worker_settings(settings, index) if worker_settings is not None else settings
        sock = listen(host, port)
        return asyncio.run(_run(own, service, host, port, [sock], forwarded_allow_ips, on_started))

    sys.exit(supervise(workers, work, log=get_logger(settings.service_name)))


async def _run(
    settings: S,
    service: Callable[[S], AbstractAsyncContextManager[T]],
    host: str,
    port: int,
    sockets: list[socket.socket] | None,
    forwarded_allow_ips: list[str] | None,
    on_started: Callable[[T], None] | None,
) -> int:
    """One worker: start, serve until asked to stop, stop; 0, or `STARTUP_FAILED` when it never started.

    A signal received while the service starts is kept: the service then stops as soon as it
    has started, through the same path, so its consumers, producers and pool are closed.
    """
    name = settings.service_name
    log = get_logger(name)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    started = False
    try:
        async with service(settings) as running:
            started = True
            log.info(f"{name}.started", host=host, port=port)
            if on_started is not None:
                on_started(running)
            if not stop.is_set():
                await serve(
                    running.http,
                    host,
                    port,
                    sockets=sockets,
                    forwarded_allow_ips=forwarded_allow_ips,
                    stop=stop,
                )
        log.info(f"{name}.stopped")
        return 0
    except Exception:
        if started or sockets is None:
            raise
        log.exception(f"{name}.start_failed")
        return STARTUP_FAILED
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
