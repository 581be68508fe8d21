"""Background loops of the composition root: a job run now, then every few seconds or when woken."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg
from vocation_shared.logs import get_logger

log = get_logger(__name__)

TRANSIENT = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError)


class Wake:
    """Wakes a loop before its next turn (`Handlers`' and `Applications`' `nudge`)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def __call__(self) -> None:
        """Ask for a turn now."""
        self._event.set()

    async def wait(self, timeout_s: float) -> None:
        """Until woken or `timeout_s` passed; then cleared."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout_s)
        self._event.clear()


@asynccontextmanager
async def repeating(
    name: str, job: Callable[[], Awaitable[int]], every_s: float, wake: Wake | None = None
) -> AsyncIterator[None]:
    """Run `job` now and then every `every_s` seconds (or when `wake` is called) while the block runs.

    A failed turn (the broker or the database away, or a bug) is logged and tried again at the next.
    """

    async def loop() -> None:
        while True:
            try:
                await job()
            except TRANSIENT as exc:
                log.warning(f"{name}.failed", error=repr(exc))
            except Exception:  # a bug: loud, and the next turn still runs
                log.exception(f"{name}.bug")
            if wake is None:
                await asyncio.sleep(every_s)
            else:
                await wake.wait(every_s)

    task = asyncio.create_task(loop(), name=name)
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # its end: cancelled
