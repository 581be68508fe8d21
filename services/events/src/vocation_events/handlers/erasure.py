"""Erasing: applying the recorded erasures to the archive, a bounded batch at a time, off the ingestion path.

The webhook deliveries of the candidates' applications (their message, their summary) go in the
same pass, whether sent or not: what a partner received stays with it, the platform keeps no copy.

A withdrawal with erasure only records the erasure with its claim (`handlers/ingestion.py`); a pass
here takes up to `erasures_per_pass` pending erasures (oldest first) and deletes at most
`rows_per_pass` of their archived rows; when it deletes fewer rows than that, none are left (no
row about an erased candidate is archived after its erasure committed: `ArchiveRepository.store`)
and the erasures are marked applied. Each step is its own short unit of work: the archive holds
the erasures in SHARE mode while it stores a batch, and a pass holding the archive rows it deleted
while it waits for that lock could deadlock with it.
"""

from __future__ import annotations

from vocation_shared.logs import get_logger

from vocation_events.ports import UnitsOfWork, WebhookDeliveries

log = get_logger(__name__)


class Erase:
    """One pass over the pending erasures (`run_once`), driven by the service's background loop."""

    def __init__(
        self,
        units: UnitsOfWork,
        *,
        deliveries: WebhookDeliveries | None = None,
        erasures_per_pass: int = 100,
        rows_per_pass: int = 1000,
    ) -> None:
        self._units = units
        self._deliveries = deliveries
        self._erasures = erasures_per_pass
        self._rows = rows_per_pass

    async def pending(self) -> int:
        """Erasures recorded and not yet applied to the archive."""
        async with self._units() as uow:
            return await uow.erasures.count_pending()

    async def run_once(self) -> int:
        """One pass; how many erasures it worked on (0: nothing pending)."""
        async with self._units() as uow:
            candidates = await uow.erasures.pending(self._erasures)
        if not candidates:
            return 0
        async with self._units() as uow:
            deleted = await uow.archive.delete_of_candidates(candidates, self._rows)
        if deleted < self._rows:
            # No delivery about them is queued after this: their facts are no longer archived nor
            # published (the catalogue turns a late one into a tombstone).
            sent = await self._deliveries.erase(candidates) if self._deliveries is not None else 0
            async with self._units() as uow:
                await uow.erasures.applied(candidates)
            log.info(
                "archive.erasures_applied",
                erasures=len(candidates),
                rows_deleted=deleted,
                deliveries_deleted=sent,
            )
        return len(candidates)
