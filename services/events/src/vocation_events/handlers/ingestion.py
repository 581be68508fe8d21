"""Accepting a partner's events: check them, claim their ids, write them to Kafka, then answer."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

from vocation_shared.contracts.envelope import CloudEvent
from vocation_shared.contracts.events import AnyEvent

from vocation_events.core.ingestion import Plan, Record, check_event, latest_time, plan
from vocation_events.core.ownership import not_owned, refs_of
from vocation_events.core.partners import Partner
from vocation_events.core.problems import Problem
from vocation_events.ports import Claims, EventSink, Metrics, UnitsOfWork

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
REJECTED = "rejected"


class Outcome(NamedTuple):
    """What became of one event: accepted, duplicate, or rejected with a problem."""

    status: str
    id: str | None
    problem: Problem | None = None

    def as_dict(self, index: int | None = None) -> dict[str, Any]:
        """The JSON answer for this event."""
        body: dict[str, Any] = {}
        if index is not None:
            body["index"] = index
        body["id"] = self.id
        body["status"] = self.status
        if self.problem is not None:
            body["problem"] = self.problem.as_dict()
        return body


# Outcomes are built once per event: `tuple.__new__` skips the NamedTuple's Python-level __new__.
_new = tuple.__new__


def _type_of(document: Any) -> str | None:
    if isinstance(document, dict):
        value = document.get("type")
        if isinstance(value, str):
            return value
    elif isinstance(document, CloudEvent):
        return str(document.type)
    return None


def _id_of(document: Any) -> str | None:
    if isinstance(document, dict):
        value = document.get("id")
        if isinstance(value, str):
            return value[:200]
    elif isinstance(document, CloudEvent):
        return str(document.id)
    return None


class Ingestion:
    """Accepts events: nothing is answered `accepted` before Kafka acknowledged it (acks=all).

    Each request's new (source, id) keys are claimed in one unit of work (a PostgreSQL transaction)
    that stays open while the records are written and commits after the acknowledgements. A copy arriving
    meanwhile waits on the claim and is then a duplicate; if the write fails, the claim rolls
    back and the event may be sent again. A crash after the acknowledgement but before the commit
    leaves no claim: the partner's retry writes the event again (a duplicate on Kafka, which
    idempotent consumers absorb), and nothing accepted is ever lost.
    """

    def __init__(self, units: UnitsOfWork, sink: EventSink, metrics: Metrics) -> None:
        self._units = units
        self._sink = sink
        self._metrics = metrics

    async def ingest(self, partner: Partner, documents: Sequence[Any]) -> list[Outcome]:
        """The outcome of each document, in order. Raises `Unavailable` if nothing could be written."""
        latest = latest_time()
        return await self.ingest_checked(
            partner, [check_event(d, partner, latest) for d in documents], documents
        )

    async def ingest_checked(
        self,
        partner: Partner,
        checked: Sequence[AnyEvent | Problem],
        documents: Sequence[Any] | None = None,
    ) -> list[Outcome]:
        """`ingest` of documents checked already.

        `checked[i]` is what `check_event` answered for the i-th document (or `check_model`, for an
        event validated straight from the request's JSON); `documents[i]`, the parsed document or
        the validated event, names a rejected one (its id and type) in the answer and the metrics.
        Raises `Unavailable` if nothing could be written.
        """
        outcomes: list[Outcome] = [None] * len(checked)  # type: ignore[list-item]  # all set below
        indexes: list[int] = []
        plans: list[Plan] = []
        seen: set[str] = set()
        tally: Counter[tuple[str, str | None]] = Counter()
        try:
            for index, item in enumerate(checked):
                if type(item) is Problem:
                    document = documents[index] if documents is not None else None
                    outcomes[index] = _new(Outcome, (REJECTED, _id_of(document), item))
                    tally[REJECTED, _type_of(document)] += 1
                    continue
                event: AnyEvent = item  # type: ignore[assignment]
                # A valid event has the partner's source (`check_event`): its id is its key here.
                event_id = event.id
                if event_id in seen:  # the same event twice in one request
                    outcomes[index] = _new(Outcome, (DUPLICATE, event_id, None))
                    tally[DUPLICATE, event.type] += 1
                    continue
                seen.add(event_id)
                indexes.append(index)
                plans.append(plan(event))
            if plans:
                await self._accept(partner, indexes, plans, outcomes, tally)
        finally:
            for (outcome, event_type), n in tally.items():
                self._metrics.count(outcome, event_type, partner.name, n)
        return outcomes

    async def _accept(
        self,
        partner: Partner,
        indexes: list[int],
        plans: list[Plan],
        outcomes: list[Outcome],
        tally: Counter[tuple[str, str | None]],
    ) -> None:
        events = [pl.event for pl in plans]
        ids = [e.id for e in events]
        types = [e.type for e in events]
        refs = [refs_of(e) for e in events]
        claims = Claims(partner.source, partner.name, ids, types, refs)
        async with self._units() as uow:
            claim = await uow.claims.claim(claims)
            refused = claim.refused
            if refused:
                # Another partner's entity: nothing of these events is published (nor claimed).
                for i, refusal in refused.items():
                    outcomes[indexes[i]] = _new(Outcome, (REJECTED, ids[i], not_owned(refs[i][refusal.ref])))
                    tally[REJECTED, types[i]] += 1
                kept = [i for i in range(len(ids)) if i not in refused]
                plans = [plans[i] for i in kept]
                indexes = [indexes[i] for i in kept]
                ids = [ids[i] for i in kept]
                types = [types[i] for i in kept]
            taken = claim.taken
            if taken:
                for index, event_id, event_type in zip(indexes, ids, types, strict=True):
                    if event_id in taken:
                        outcomes[index] = _new(Outcome, (DUPLICATE, event_id, None))
                        tally[DUPLICATE, event_type] += 1
                won = [i for i, event_id in enumerate(ids) if event_id not in taken]
                plans = [plans[i] for i in won]
                indexes = [indexes[i] for i in won]
                ids = [ids[i] for i in won]
                types = [types[i] for i in won]
            records: list[Record] = []
            extend = records.extend
            for pl in plans:
                extend(pl.records)
            if records:
                started = time.perf_counter()
                await self._sink.write(records)
                self._metrics.published(time.perf_counter() - started)
            for pl in plans:
                if pl.erase_candidate is not None:
                    # Recorded with the claim; the eraser applies it to the archive later.
                    await uow.erasures.record(pl.erase_candidate, pl.event.source, pl.event.id)
                    await uow.claims.release_candidate(pl.erase_candidate)
        # Committed: only now are these events accepted.
        for index, event_id in zip(indexes, ids, strict=True):
            outcomes[index] = _new(Outcome, (ACCEPTED, event_id, None))
        for event_type, n in Counter(types).items():
            tally[ACCEPTED, event_type] += n
