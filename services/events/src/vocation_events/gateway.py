"""The ingestion use case: validate a partner's events, claim their ids, write them to Kafka, answer."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

from vocation_events.core.ingestion import Plan, Record, check_event, plan
from vocation_events.core.partners import Partner
from vocation_events.core.problems import Problem
from vocation_events.metrics import GatewayMetrics
from vocation_events.ports import Claim, ClaimStore, EventSink

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


def _type_of(document: Any) -> str | None:
    if isinstance(document, dict):
        value = document.get("type")
        if isinstance(value, str):
            return value
    return None


def _id_of(document: Any) -> str | None:
    if isinstance(document, dict):
        value = document.get("id")
        if isinstance(value, str):
            return value[:200]
    return None


class Gateway:
    """Accepts events: nothing is answered `accepted` before Kafka acknowledged it (acks=all).

    Each request's new (source, id) keys are claimed in one PostgreSQL transaction that stays open
    while the records are written and commits after the acknowledgements. A copy arriving
    meanwhile waits on the claim and is then a duplicate; if the write fails, the claim rolls
    back and the event may be sent again. A crash after the acknowledgement but before the commit
    leaves no claim: the partner's retry writes the event again (a duplicate on Kafka, which
    idempotent consumers absorb), and nothing accepted is ever lost.
    """

    def __init__(self, claims: ClaimStore, sink: EventSink, metrics: GatewayMetrics) -> None:
        self._claims = claims
        self._sink = sink
        self._metrics = metrics

    async def ingest(self, partner: Partner, documents: Sequence[Any]) -> list[Outcome]:
        """The outcome of each document, in order. Raises `Unavailable` if nothing could be written."""
        outcomes: list[Outcome | None] = [None] * len(documents)
        plans: list[tuple[int, Plan]] = []
        seen: set[tuple[str, str]] = set()
        tally: Counter[tuple[str, str | None]] = Counter()
        try:
            for index, document in enumerate(documents):
                checked = check_event(document, partner)
                if isinstance(checked, Problem):
                    outcomes[index] = Outcome(REJECTED, _id_of(document), checked)
                    tally[REJECTED, _type_of(document)] += 1
                    continue
                key = (checked.source, checked.id)
                if key in seen:  # the same event twice in one request
                    outcomes[index] = Outcome(DUPLICATE, checked.id)
                    tally[DUPLICATE, checked.type] += 1
                    continue
                seen.add(key)
                plans.append((index, plan(checked)))
            if plans:
                await self._accept(partner, plans, outcomes, tally)
        finally:
            for (outcome, event_type), n in tally.items():
                self._metrics.count(outcome, event_type, partner.name, n)
        return [o for o in outcomes if o is not None]

    async def _accept(
        self,
        partner: Partner,
        plans: list[tuple[int, Plan]],
        outcomes: list[Outcome | None],
        tally: Counter[tuple[str, str | None]],
    ) -> None:
        name = partner.name
        claims = [Claim(e.source, e.id, e.type, e.subject, name) for e in (pl.event for _, pl in plans)]
        async with self._claims.claim(claims) as claim:
            records: list[Record] = []
            accepted: list[tuple[int, Plan]] = []
            won = claim.won
            for index, pl in plans:
                if (pl.event.source, pl.event.id) in won:
                    records.extend(pl.records)
                    accepted.append((index, pl))
                else:
                    outcomes[index] = Outcome(DUPLICATE, pl.event.id)
                    tally[DUPLICATE, pl.event.type] += 1
            if records:
                started = time.perf_counter()
                await self._sink.write(records)
                self._metrics.publish_seconds.observe(time.perf_counter() - started)
            for _, pl in accepted:
                if pl.erase_candidate is not None:
                    await claim.erase_candidate(pl.erase_candidate, pl.event.source, pl.event.id)
        # Committed: only now are these events accepted.
        for index, pl in accepted:
            outcomes[index] = Outcome(ACCEPTED, pl.event.id)
            tally[ACCEPTED, pl.event.type] += 1
