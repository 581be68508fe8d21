"""What a fetched batch of events changes, decided at once (pure): fresh events, contacts, match steps.

A batch is applied in one transaction with a few multi-row statements instead of a few
statements per event. The result must be the one of applying the events one by one, in order:

- contacts: the full state of a candidate with the highest version wins, the later of equal
  versions winning (`core.consent.should_apply`), so only that one is written;
- matches: a `match-found` plans rows (kept if their key exists, except a withdrawn match, which
  is revived) and a `match-withdrawn` suppresses the unsent rows of its (candidate, offer). Events
  about different (candidate, offer) pairs touch different rows, so they commute; those about the
  same pair are applied in their order by putting each change of kind (found → withdrawn or
  withdrawn → found) in the next **step**. A step is one insert and one update; almost every
  batch is a single step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.payloads import CandidateContact, MatchFound, MatchWithdrawn

from vocation_notifications.core.consent import contact_from, should_apply, stated_here
from vocation_notifications.core.model import Contact, PlannedNotification
from vocation_notifications.core.planning import plan_match
from vocation_notifications.core.policy import Policy

E = TypeVar("E", bound=AnyEvent)

RowKey = tuple[str, str, str, str, int]
"""The outbox's unique key: recipient, channel, purpose, subject, version."""


def distinct_events(events: Iterable[E]) -> list[E]:
    """The events of a batch without repeats of the same (source, id), first kept, in order."""
    seen: set[tuple[str, str]] = set()
    kept: list[E] = []
    for event in events:
        key = (event.source, event.id)
        if key not in seen:
            seen.add(key)
            kept.append(event)
    return kept


def latest_contacts(states: Iterable[CandidateContact], *, stated_here_only: bool = False) -> list[Contact]:
    """Per candidate, the full state that applying `states` one by one in order would leave.

    Newer or equal version wins, as in `should_apply`: the last of the highest versions. The store
    then writes it only over an older or equal stored version, which gives the same result.
    The partners' states and the states this service published (`core.consent.stated_here`: they
    only fill a missing contact) are taken apart: `stated_here_only` picks the latter.
    """
    latest: dict[str, Contact] = {}
    for data in states:
        if stated_here(data) is not stated_here_only:
            continue
        current = latest.get(data.candidate_id)
        if current is None or should_apply(current.version, data.version):
            latest[data.candidate_id] = contact_from(data)
    return list(latest.values())


def row_key(row: PlannedNotification) -> RowKey:
    """The outbox unique key of a planned row."""
    return (row.recipient_id, str(row.channel), str(row.purpose), row.about_id, row.about_version)


@dataclass(slots=True)
class MatchStep:
    """Rows to insert and (candidate, offer) pairs to withdraw; they concern different pairs."""

    rows: list[PlannedNotification] = field(default_factory=list)
    withdrawals: list[tuple[str, str]] = field(default_factory=list)
    _keys: set[RowKey] = field(default_factory=set)
    _pairs: set[tuple[str, str]] = field(default_factory=set)

    def add_rows(self, rows: Iterable[PlannedNotification]) -> None:
        """Add rows; a key already in this step is kept as first planned (a repeat is a no-op in SQL)."""
        for row in rows:
            key = row_key(row)
            if key not in self._keys:
                self._keys.add(key)
                self.rows.append(row)

    def withdraw(self, pair: tuple[str, str]) -> None:
        """Add a (candidate, offer) pair to withdraw (once)."""
        if pair not in self._pairs:
            self._pairs.add(pair)
            self.withdrawals.append(pair)


def plan_match_steps(
    facts: Sequence[MatchFound | MatchWithdrawn],
    contacts: Mapping[str, Contact],
    now: datetime,
    policy: Policy,
) -> list[MatchStep]:
    """The steps that apply these facts (in the topic's order) with the same result as one by one.

    `contacts` are the stored contacts of the candidates found in `facts` (absent: not known yet).
    """
    steps: list[MatchStep] = []
    last: dict[tuple[str, str], tuple[bool, int]] = {}  # pair -> (found?, step of its last change)
    for fact in facts:
        pair = (fact.candidate_id, fact.offer_id)
        found = isinstance(fact, MatchFound)
        previous = last.get(pair)
        if previous is None:
            index = 0
        elif previous[0] is found:
            index = previous[1]  # the same kind again: into the same step (a repeat)
        else:
            index = previous[1] + 1  # found after withdrawn, or withdrawn after found: after it
        last[pair] = (found, index)
        while len(steps) <= index:
            steps.append(MatchStep())
        step = steps[index]
        if isinstance(fact, MatchFound):
            step.add_rows(plan_match(fact, contacts.get(fact.candidate_id), now, policy))
        else:
            step.withdraw(pair)
    return steps
