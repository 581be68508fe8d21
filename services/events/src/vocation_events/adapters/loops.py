"""The background loops of the service (webhook deliveries, the archive's eraser): one pass, then a wait."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import asyncpg
from vocation_shared.logs import get_logger

from vocation_events.ports import Unavailable

log = get_logger(__name__)


async def repeat(
    name: str, once: Callable[[], Awaitable[int]], stop: asyncio.Event, *, poll_s: float, pause_s: float = 0.0
) -> None:
    """Run `once` until `stop`: after a pass that did some work wait `pause_s`, else `poll_s`.

    A database that cannot be reached is logged (`<name>.database_unavailable`) and the loop goes
    on; any other error is a bug, logged with its traceback (`<name>.loop_bug`), and the loop goes on.
    """
    while not stop.is_set():
        try:
            worked = await once()
        except (Unavailable, OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning(f"{name}.database_unavailable", error=repr(exc))
            worked = 0
        except Exception:
            log.exception(f"{name}.loop_bug")
            worked = 0
        wait = pause_s if worked else poll_s
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
        else:
            await asyncio.sleep(0)
