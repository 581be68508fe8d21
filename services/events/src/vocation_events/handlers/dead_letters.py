"""Re-driving dead letters: the letters not yet re-driven back to their original topic, once.

Progress is committed in the dead-letter queue's own consumer group, so a letter is re-driven once;
consumers are idempotent, so a re-driven event that had been applied is skipped. A letter about a
candidate the erasure ledger names is skipped for good (committed, not written); a tombstone is
always re-driven, as a tombstone.
"""

from __future__ import annotations

from vocation_events.core.dead_letters import Redrive, commit_positions
from vocation_events.ports import DeadLetterQueue, EventSink, UnitsOfWork


async def redrive(
    queue: DeadLetterQueue,
    sink: EventSink,
    units: UnitsOfWork | None = None,
    reason: str | None = None,
    dry_run: bool = False,
) -> Redrive:
    """Write back the pending letters (of `reason`); with `units`, skip those about erased candidates."""
    original = queue.original_topic
    result = Redrive()
    pending = await queue.pending()
    chosen = [d for d in pending if reason is None or d.reason == reason]
    erased: set[str] = set()
    if units is not None:
        about = {c for d in chosen if not d.tombstone for c in d.candidate_ids(original)}
        if about:
            async with units() as uow:
                erased = await uow.erasures.erased_among(about)
    for d in chosen:
        if not d.tombstone and d.candidate_ids(original) & erased:
            result.erased.append(d)
        else:
            result.redriven.append(d)
    if dry_run or not chosen:
        return result
    if result.redriven:
        await sink.write([d.original_record(original) for d in result.redriven])
    commit = commit_positions(pending, reason)
    if commit:
        await queue.commit(commit)
    return result
