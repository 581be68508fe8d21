"""The net change a run of match facts makes to each pair's standing match (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vocation_shared.contracts import events as ev

from vocation_catalogue.core.applications import MatchView

Pair = tuple[str, str]
"""(candidate id, offer id)."""


@dataclass(frozen=True)
class Keep:
    """The pair's standing match is now this one, whatever was stored."""

    view: MatchView


@dataclass(frozen=True)
class Forget:
    """The pair has no standing match (found then withdrawn in the same run)."""


@dataclass(frozen=True)
class ForgetIf:
    """Forget the stored match only if it is one of these (withdrawn, never found in the run)."""

    match_ids: frozenset[str]


PairChange = Keep | Forget | ForgetIf


def net_changes(
    facts: Iterable[ev.MatchFound | ev.MatchWithdrawn], erased: frozenset[str] = frozenset()
) -> dict[Pair, PairChange]:
    """One change per pair that gives the state of applying `facts` one by one, in order.

    A found match replaces the pair's match (not for an `erased` candidate: nothing of theirs is
    kept again); a withdrawal forgets it only if it is still that match. Each change sets a state,
    so applying the same run twice gives the state of applying it once (a redelivered batch).
    """
    changes: dict[Pair, PairChange] = {}
    for fact in facts:
        pair = (fact.data.candidate_id, fact.data.offer_id)
        if isinstance(fact, ev.MatchFound):
            if fact.data.candidate_id not in erased:
                found = fact.data
                changes[pair] = Keep(MatchView(found.match_id, found.distance_km, tuple(found.reasons)))
            continue
        gone = fact.data.match_id
        match changes.get(pair):
            case None:
                changes[pair] = ForgetIf(frozenset({gone}))
            case ForgetIf(match_ids=ids):
                changes[pair] = ForgetIf(ids | {gone})
            case Keep(view=view) if view.match_id == gone:
                changes[pair] = Forget()
            case _:
                pass
    return changes
