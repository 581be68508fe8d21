"""A run of match facts folded into one change per pair gives the state of applying them one by one."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vocation_catalogue.core.applications import MatchView
from vocation_catalogue.core.pair_matches import Forget, ForgetIf, Keep, Pair, PairChange, net_changes
from vocation_catalogue.testing.builders import match_event, match_withdrawn_event
from vocation_shared.contracts import events as ev

pytestmark = pytest.mark.unit

State = dict[Pair, str]
"""Each pair's standing match id."""

CANDIDATES = ("c1", "c2")
OFFERS = ("v1", "v2")
MATCH_IDS = ("m1", "m2", "m3")


def one_by_one(state: State, facts: list[ev.MatchFound | ev.MatchWithdrawn], erased: frozenset[str]) -> State:
    """The reference: each fact applied alone, as the per-event handler did."""
    after = dict(state)
    for fact in facts:
        pair = (fact.data.candidate_id, fact.data.offer_id)
        if isinstance(fact, ev.MatchFound):
            if fact.data.candidate_id not in erased:
                after[pair] = fact.data.match_id
        elif after.get(pair) == fact.data.match_id:
            del after[pair]
    return after


def applied(state: State, changes: dict[Pair, PairChange]) -> State:
    """The changes applied as the adapters do."""
    after = dict(state)
    for pair, change in changes.items():
        match change:
            case Keep(view=view):
                after[pair] = view.match_id
            case Forget():
                after.pop(pair, None)
            case ForgetIf(match_ids=ids) if after.get(pair) in ids:
                del after[pair]
    return after


fact = st.builds(
    lambda found, c, o, m: (match_event if found else match_withdrawn_event)(c, o, match_id=m),
    st.booleans(),
    st.sampled_from(CANDIDATES),
    st.sampled_from(OFFERS),
    st.sampled_from(MATCH_IDS),
)
state = st.dictionaries(
    st.tuples(st.sampled_from(CANDIDATES), st.sampled_from(OFFERS)), st.sampled_from(MATCH_IDS)
)


@settings(max_examples=400, deadline=None)
@given(state, st.lists(fact, max_size=12), st.sets(st.sampled_from(CANDIDATES)))
def test_the_net_changes_give_the_state_of_the_facts_one_by_one_and_again_the_same(
    before: State, facts: list[ev.MatchFound | ev.MatchWithdrawn], erased: set[str]
) -> None:
    changes = net_changes(facts, frozenset(erased))
    once = applied(before, changes)
    assert once == one_by_one(before, facts, frozenset(erased))
    assert applied(once, changes) == once, "a redelivered run changes nothing more"


def test_a_match_found_then_withdrawn_in_one_run_leaves_the_pair_without_match() -> None:
    facts = [match_event("c1", "v1", match_id="m1"), match_withdrawn_event("c1", "v1", match_id="m1")]
    assert net_changes(facts) == {("c1", "v1"): Forget()}


def test_a_withdrawal_of_a_match_not_found_in_the_run_forgets_only_that_match() -> None:
    facts = [
        match_withdrawn_event("c1", "v1", match_id="m1"),
        match_withdrawn_event("c1", "v1", match_id="m2"),
    ]
    assert net_changes(facts) == {("c1", "v1"): ForgetIf(frozenset({"m1", "m2"}))}


def test_nothing_is_kept_of_an_erased_candidate() -> None:
    facts = [match_event("c1", "v1", match_id="m1"), match_event("c2", "v1", match_id="m2")]
    changes = net_changes(facts, frozenset({"c1"}))
    assert list(changes) == [("c2", "v1")]
    kept = changes[("c2", "v1")]
    assert isinstance(kept, Keep) and kept.view == MatchView("m2", 12.4, kept.view.reasons)
