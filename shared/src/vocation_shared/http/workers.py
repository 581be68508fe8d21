"""Pre-forked worker processes: each listens on the port, one that dies is started again, SIGTERM stops all."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

STARTUP_FAILED = 3
"""Exit code of a worker that could not start: restarting it would fail the same way."""
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
FIRST_RESTART_DELAY_S = 0.5
MAX_RESTART_DELAY_S = 30.0
STABLE_AFTER_S = 30.0
"""A worker that lived this long before dying is restarted at once; one dying sooner, after a growing delay."""
_PR_SET_PDEATHSIG = 1


def listen(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening socket of the calling worker's own on the shared port (`SO_REUSEPORT`).

    With one socket shared by every worker, the worker that wakes first accepts the whole burst
    of new connections (asyncio accepts up to 100 per wake-up): a partner's few keep-alive
    connections all land on one process and the others idle. With a socket each, the kernel
    spreads the connections over the workers, and a dead worker's share goes to the others.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock


@dataclass
class _Slot:
    """One worker place: its process, when it started, and when to start it again after a death."""

    pid: int | None = None
    started: float = 0.0
    delay_s: float = 0.0
    restart_at: float | None = None


def supervise(
    workers: int,
    work: Callable[[int], int],
    *,
    log: Any,
    stop_timeout_s: float = 30.0,
    poll_s: float = 0.05,
) -> int:
    """Run `work(index)` in `workers` forked processes until SIGTERM/SIGINT; the exit status.

    A worker that dies is started again with the same index (the first one may have duties of
    its own), at once if it had lived `STABLE_AFTER_S`, else after a delay doubling up to
    `MAX_RESTART_DELAY_S`. A worker exiting with `STARTUP_FAILED` stops the whole service: a
    wrong setting or an unreachable dependency at start is for the operator (or the
    orchestrator) to see, not to loop on. On SIGTERM/SIGINT the signal goes to every worker,
    which stops cleanly; one still running after `stop_timeout_s` is killed. Workers die with
    the supervisor (`PR_SET_PDEATHSIG`), so none is left holding the port.
    """
    slots = [_Slot() for _ in range(workers)]
    stopping = False
    status = 0
    parent = os.getpid()

    def spawn(index: int) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                _run_worker(parent, index, work)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        slots[index] = _Slot(pid, time.monotonic(), slots[index].delay_s)
        log.info("http.worker_started", worker=index, pid=pid)

    def stop(signum: int, _: object = None) -> None:
        nonlocal stopping
        stopping = True
        for slot in slots:
            if slot.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.pid, signum)

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)
    for index in range(workers):
        spawn(index)
    deadline: float | None = None
    while any(slot.pid is not None for slot in slots) or (
        not stopping and any(slot.restart_at is not None for slot in slots)
    ):
        now = time.monotonic()
        if stopping and deadline is None:
            deadline = now + stop_timeout_s
        if deadline is not None and now > deadline:
            for slot in slots:
                if slot.pid is not None:
                    log.error("http.worker_stop_timeout", pid=slot.pid, timeout_s=stop_timeout_s)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(slot.pid, signal.SIGKILL)
            deadline = float("inf")
        for index, slot in enumerate(slots):
            if slot.restart_at is not None and not stopping and now >= slot.restart_at:
                spawn(index)
        pid, wait_status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            time.sleep(poll_s)
            continue
        found = next((i for i, s in enumerate(slots) if s.pid == pid), None)
        if found is None:
            continue
        index, slot = found, slots[found]
        code = os.waitstatus_to_exitcode(wait_status)
        slot.pid = None
        if stopping:
            if code not in (0, -signal.SIGTERM, -signal.SIGINT, -signal.SIGKILL):
                status = status or 1
            log.info("http.worker_stopped", worker=index, pid=pid, exit_code=code)
            continue
        if code == STARTUP_FAILED:
            log.error("http.worker_start_failed", worker=index, pid=pid)
            status = 1
            stop(signal.SIGTERM)
            continue
        lived = now - slot.started
        slot.delay_s = (
            0.0
            if lived >= STABLE_AFTER_S
            else min(max(FIRST_RESTART_DELAY_S, 2 * slot.delay_s), MAX_RESTART_DELAY_S)
        )
        slot.restart_at = now + slot.delay_s
        log.error("http.worker_died", worker=index, pid=pid, exit_code=code, restart_in_s=slot.delay_s)
    return status


def _run_worker(parent: int, index: int, work: Callable[[int], int]) -> None:
    """The forked child: default signal handling, die with the supervisor, run, never return."""
    code = 1
    try:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        _die_with(parent)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        code = work(index)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _die_with(parent: int) -> None:
    """Have the kernel send SIGTERM to this process when the supervisor dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the supervisor died before the line above
        os._exit(0)
