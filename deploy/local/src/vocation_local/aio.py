"""Run a coroutine to completion from synchronous code, even when an event loop is running."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` in a fresh event loop in a worker thread; return its result.

    Always in another thread: `asyncio.run` here would clear this thread's current event loop
    (pytest-asyncio's, say) and cannot run at all while a loop runs in this thread.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
