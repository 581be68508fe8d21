"""Reads the whole state topics from the beginning, on every instance, and keeps following them.

A plain aiokafka consumer with manual assignment of every partition and no group: each
instance needs every candidate and offer, not a share of them. The state is ready once the
end offsets seen at start are reached. ``caught_up`` lets the reactions wait until the state
holds everything published before they started (see ``adapters/kafka.py``).

With a snapshot folder, the state is written there when the reader stops after a complete
rebuild, and a usable snapshot found at start replaces reading the topics from the beginning:
they are read from the snapshot's offsets (``snapshot.py`` says when one is usable).
"""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from vocation_shared.contracts.codec import InvalidEvent, parse_event
from vocation_shared.contracts.producers import forged_reason
from vocation_shared.logs import get_logger

from vocation_matching.adapters import snapshot
from vocation_matching.adapters.metrics import PrometheusMetrics
from vocation_matching.core.index import DEFAULT_CELL_SCALE
from vocation_matching.core.state import STATE_TOPICS, MatchingState

log = get_logger(__name__)
CATCH_UP_TIMEOUT_S = 30.0


async def partitions_of(bootstrap: str, topics: tuple[str, ...]) -> list[TopicPartition]:
    """Every partition of the topics (a missing topic is an error: topics are never auto-created)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="matching-state-admin")
    await admin.start()
    try:
        described: list[dict[str, Any]] = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    found = {t["topic"]: t for t in described}
    partitions = []
    for topic in topics:
        meta = found.get(topic)
        if meta is None or meta["error_code"] != 0 or not meta["partitions"]:
            raise RuntimeError(f"topic {topic!r} is missing on the broker")
        partitions += [
            TopicPartition(topic, p["partition"])
            for p in sorted(meta["partitions"], key=lambda p: p["partition"])
        ]
    return partitions


class StateReader:
    """Applies every record of the state topics to the in-memory state, in order per partition."""

    def __init__(
        self,
        bootstrap: str,
        state: MatchingState,
        metrics: PrometheusMetrics,
        client_id: str = "matching-state",
        *,
        snapshot_dir: Path | None = None,
        cell_scale: float = DEFAULT_CELL_SCALE,
    ) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap.split(","),
            client_id=client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        # End offsets are asked on a connection of their own: on the reader's, the request would
        # queue behind the fetch the broker holds open while nothing new comes (up to
        # fetch_max_wait_ms, 500 ms), and every barrier would cost that wait.
        self._offsets = AIOKafkaConsumer(
            bootstrap_servers=bootstrap.split(","), client_id=f"{client_id}-offsets", group_id=None
        )
        self._bootstrap = bootstrap
        self._state = state
        self._metrics = metrics
        self._partitions: list[TopicPartition] = []
        self._positions: dict[TopicPartition, int] = {}
        self._progress = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._snapshot_dir = snapshot_dir
        self._cell_scale = cell_scale
        self.ready = asyncio.Event()
        self.restored_from_snapshot = False

    async def start(self) -> None:
        """Connect, assign every partition from the beginning, and start reading in the background."""
        started = time.monotonic()
        self._partitions = await partitions_of(self._bootstrap, STATE_TOPICS)
        await self._consumer.start()
        await self._offsets.start()
        self._consumer.assign(self._partitions)
        targets = await self._consumer.end_offsets(self._partitions)
        restored = await self._restore(targets)
        if restored is None:
            await self._consumer.seek_to_beginning(*self._partitions)
            self._positions = dict.fromkeys(self._partitions, 0)
        else:
            for tp, position in restored.items():
                self._consumer.seek(tp, position)
            self._positions = restored
        self._task = asyncio.create_task(self._run(targets, started), name="matching-state-reader")

    async def _restore(self, ends: dict[TopicPartition, int]) -> dict[TopicPartition, int] | None:
        """Load a usable snapshot into the state; the offsets to read from, or None to rebuild."""
        if self._snapshot_dir is None:
            return None
        found = await asyncio.to_thread(snapshot.read, self._snapshot_dir, self._cell_scale)
        if found is None:
            return None
        starts = await self._consumer.beginning_offsets(self._partitions)
        positions = {tp: found.positions.get((tp.topic, tp.partition), -1) for tp in self._partitions}
        if set(found.positions) != {(tp.topic, tp.partition) for tp in self._partitions} or any(
            not starts[tp] <= position <= ends[tp] for tp, position in positions.items()
        ):
            log.info("state.snapshot_does_not_fit_the_topics")
            return None
        self._state.candidates = found.state.candidates
        self._state.offers = found.state.offers
        self.restored_from_snapshot = True
        log.info(
            "state.restored_from_snapshot",
            candidates=len(self._state.candidates),
            offers=len(self._state.offers),
            records_behind=sum(ends[tp] - position for tp, position in positions.items()),
        )
        return positions

    async def stop(self) -> None:
        """Stop reading; with a snapshot folder, write the state there if it was whole."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()
        await self._offsets.stop()
        if self._snapshot_dir is not None and self.ready.is_set():
            started = time.monotonic()
            positions = {(tp.topic, tp.partition): offset for tp, offset in self._positions.items()}
            try:
                path = await asyncio.to_thread(
                    snapshot.write, self._snapshot_dir, self._state, positions, self._cell_scale
                )
            except OSError as exc:  # a full disk must not stop the service from stopping
                log.warning("state.snapshot_not_written", error=repr(exc))
                return
            log.info("state.snapshot_written", path=str(path), seconds=round(time.monotonic() - started, 2))

    async def _run(self, targets: dict[TopicPartition, int], started: float) -> None:
        self._check_ready(targets, started)
        while True:
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker is away: keep trying, the state just lags
                log.warning("state.fetch_failed", error=repr(exc))
                await asyncio.sleep(1.0)
                continue
            if not self.ready.is_set():
                self._check_ready(targets, started)

    async def _step(self) -> None:
        batches = await self._consumer.getmany(timeout_ms=200, max_records=5000)
        for tp, records in batches.items():
            for record in records:
                self._apply(record.topic, record.key, record.value)
            self._metrics.state_events.labels(topic=tp.topic).inc(len(records))
        for tp in self._partitions:
            self._positions[tp] = await self._consumer.position(tp)
        async with self._progress:
            self._progress.notify_all()

    def _check_ready(self, targets: dict[TopicPartition, int], started: float) -> None:
        if all(self._positions.get(tp, 0) >= end for tp, end in targets.items()):
            elapsed = time.monotonic() - started
            self._metrics.rebuild_seconds.set(elapsed)
            self._metrics.ready.set(1)
            log.info(
                "state.rebuilt",
                seconds=round(elapsed, 2),
                candidates=len(self._state.candidates),
                offers=len(self._state.offers),
            )
            self.ready.set()

    def _apply(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            if key is not None:
                self._state.apply_tombstone(topic, key.decode("utf-8", errors="replace"))
            return
        try:
            event = parse_event(value)
        except InvalidEvent as exc:
            # The reactions' consumer sends it to the dead-letter topic; the state just skips it.
            log.warning("state.invalid_record", topic=topic, reason=exc.kind)
            return
        if topic != event.TOPIC:
            return
        if forged_reason(event.type, event.source, event.data) is not None:
            # The reactions' consumer dead-letters it as forged; the state must not hold it either.
            log.warning("state.forged_record", topic=topic, type=event.type)
            return
        self._state.apply(event)

    async def caught_up(self) -> None:
        """Wait until the state holds every record written to the state topics before this call."""
        targets = await self._offsets.end_offsets(self._partitions)
        async with asyncio.timeout(CATCH_UP_TIMEOUT_S), self._progress:
            await self._progress.wait_for(
                lambda: all(self._positions.get(tp, 0) >= end for tp, end in targets.items())
            )
