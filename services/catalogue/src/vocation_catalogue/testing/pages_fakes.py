"""In-memory fakes behind the pages' tests: the `ApplicationDesk` (its state machine) and offers found by id."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from vocation_shared.contracts.payloads import application_id_of
from vocation_shared.contracts.vocabulary import (
    ApplicationAnswer,
    ApplicationDeclineReason,
    ApplicationWithdrawalReason,
    MatchDeclineReason,
)
from vocation_shared.reference import EARTH_RADIUS_KM, communes

from vocation_catalogue.core.applications import (
    ENDED,
    ApplicationState,
    ApplicationView,
    EmployerAnswer,
    MatchView,
    Outcome,
    Refusal,
)
from vocation_catalogue.core.search import SearchQuery
from vocation_catalogue.ports import SearchPage

COMMANDS = frozenset({"submit", "decline_match", "withdraw", "answer"})
"""The desk's methods that change state (a GET must call none of them)."""
_NO_APPLICATION = frozenset({ApplicationState.NONE, ApplicationState.MATCH_DECLINED})
_ANSWERED = {
    ApplicationAnswer.INTERVIEW_PROPOSED: ApplicationState.INTERVIEW_PROPOSED,
    ApplicationAnswer.DECLINED: ApplicationState.DECLINED,
    ApplicationAnswer.HIRED: ApplicationState.HIRED,
}


class FakeApplicationDesk:
    """The `ApplicationDesk` port in memory, with the state machine of docs/applications.md.

    `open_offers` and `closed_offers` are the offers it knows; `candidates` the candidates it
    knows (None: any). Every call is recorded in `calls` (method name first); `failure`, when
    set, is raised by every call (a database down).
    """

    def __init__(
        self,
        *,
        open_offers: Iterable[str] = (),
        closed_offers: Iterable[str] = (),
        candidates: Iterable[str] | None = None,
    ) -> None:
        self.open_offers = set(open_offers)
        self.closed_offers = set(closed_offers)
        self.candidates = None if candidates is None else set(candidates)
        self.views: dict[tuple[str, str], ApplicationView] = {}
        self.matches: dict[tuple[str, str], MatchView] = {}
        self.submitted: dict[tuple[str, str], tuple[str | None, bool, bool]] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.failure: Exception | None = None

    def commands(self) -> list[tuple[Any, ...]]:
        """The state-changing calls received."""
        return [call for call in self.calls if call[0] in COMMANDS]

    def set_state(self, candidate_id: str, offer_id: str, state: ApplicationState, **reasons: Any) -> None:
        """Put a pair in a state (and its reasons) directly, as if earlier facts had led there."""
        self.views[candidate_id, offer_id] = ApplicationView(
            application_id_of(candidate_id, offer_id), state, **reasons
        )

    def _record(self, *call: Any) -> None:
        self.calls.append(call)
        if self.failure is not None:
            raise self.failure

    def _view(self, candidate_id: str, offer_id: str) -> ApplicationView:
        found = self.views.get((candidate_id, offer_id))
        return found or ApplicationView(application_id_of(candidate_id, offer_id), ApplicationState.NONE)

    def _refused(self, candidate_id: str, offer_id: str, refusal: Refusal) -> Outcome:
        return Outcome(self._view(candidate_id, offer_id), changed=False, refusal=refusal)

    def _unknown(self, candidate_id: str, offer_id: str) -> Outcome | None:
        if self.candidates is not None and candidate_id not in self.candidates:
            return self._refused(candidate_id, offer_id, Refusal.UNKNOWN_CANDIDATE)
        if offer_id not in self.open_offers | self.closed_offers:
            return self._refused(candidate_id, offer_id, Refusal.UNKNOWN_OFFER)
        return None

    def _move(self, candidate_id: str, offer_id: str, view: ApplicationView) -> Outcome:
        self.views[candidate_id, offer_id] = view
        return Outcome(view, changed=True)

    async def view(self, candidate_id: str, offer_id: str) -> ApplicationView:
        self._record("view", candidate_id, offer_id)
        return self._view(candidate_id, offer_id)

    async def match(self, candidate_id: str, offer_id: str) -> MatchView | None:
        self._record("match", candidate_id, offer_id)
        return self.matches.get((candidate_id, offer_id))

    async def submit(
        self, candidate_id: str, offer_id: str, *, message: str | None, share_email: bool, share_phone: bool
    ) -> Outcome:
        self._record("submit", candidate_id, offer_id, message, share_email, share_phone)
        if (unknown := self._unknown(candidate_id, offer_id)) is not None:
            return unknown
        current = self._view(candidate_id, offer_id)
        if current.state in (ApplicationState.SUBMITTED, ApplicationState.INTERVIEW_PROPOSED):
            return Outcome(current, changed=False)
        if current.state in (ApplicationState.DECLINED, ApplicationState.HIRED):
            return self._refused(candidate_id, offer_id, Refusal.ENDED)
        if offer_id in self.closed_offers:
            return self._refused(candidate_id, offer_id, Refusal.OFFER_CLOSED)
        self.submitted[candidate_id, offer_id] = (message, share_email, share_phone)
        return self._move(
            candidate_id, offer_id, ApplicationView(current.application_id, ApplicationState.SUBMITTED)
        )

    async def decline_match(
        self, candidate_id: str, offer_id: str, reason: MatchDeclineReason | None
    ) -> Outcome:
        self._record("decline_match", candidate_id, offer_id, reason)
        if (unknown := self._unknown(candidate_id, offer_id)) is not None:
            return unknown
        current = self._view(candidate_id, offer_id)
        if current.state is ApplicationState.MATCH_DECLINED:
            return Outcome(current, changed=False)
        if current.state not in (ApplicationState.NONE, ApplicationState.WITHDRAWN):
            return self._refused(candidate_id, offer_id, Refusal.ENDED)
        view = ApplicationView(
            current.application_id, ApplicationState.MATCH_DECLINED, match_decline_reason=reason
        )
        return self._move(candidate_id, offer_id, view)

    async def withdraw(self, candidate_id: str, offer_id: str) -> Outcome:
        self._record("withdraw", candidate_id, offer_id)
        if (unknown := self._unknown(candidate_id, offer_id)) is not None:
            return unknown
        current = self._view(candidate_id, offer_id)
        if current.state is ApplicationState.WITHDRAWN:
            return Outcome(current, changed=False)
        if current.state in _NO_APPLICATION:
            return self._refused(candidate_id, offer_id, Refusal.NOT_SUBMITTED)
        if current.state in ENDED:
            return self._refused(candidate_id, offer_id, Refusal.ENDED)
        view = ApplicationView(
            current.application_id,
            ApplicationState.WITHDRAWN,
            withdrawal_reason=ApplicationWithdrawalReason.CANDIDATE,
        )
        return self._move(candidate_id, offer_id, view)

    async def answer(self, candidate_id: str, offer_id: str, answer: EmployerAnswer) -> Outcome:
        self._record("answer", candidate_id, offer_id, answer)
        if (unknown := self._unknown(candidate_id, offer_id)) is not None:
            return unknown
        current = self._view(candidate_id, offer_id)
        target = _ANSWERED[answer.answer]
        if current.state is target:
            return Outcome(current, changed=False)
        if current.state in _NO_APPLICATION:
            return self._refused(candidate_id, offer_id, Refusal.NOT_SUBMITTED)
        if current.state in ENDED:
            return self._refused(candidate_id, offer_id, Refusal.ENDED)
        reason: ApplicationDeclineReason | None = answer.reason
        view = ApplicationView(current.application_id, target, decline_reason=reason)
        return self._move(candidate_id, offer_id, view)


def _place(item: dict[str, Any]) -> tuple[float, float] | None:
    position = item.get("position")
    if isinstance(position, dict):
        return float(position["lat"]), float(position["lon"])
    commune = communes().get(str(item.get("commune_insee", "")))
    return None if commune is None else commune.position


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


class FakeOffers:
    """The `OfferSearch` port over a few items, by catalogue and id: `get` finds one whatever its
    status; `search` answers the open items of the query's métiers within its area, nearest
    first (all it needs to find similar offers). Queries are recorded in `queries`."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, dict[str, Any]]] = {}
        self.queries: list[SearchQuery] = []
        self.failure: Exception | None = None

    def add(self, catalogue: str, item: dict[str, Any]) -> None:
        """Hold an item (as the search port serves it) in a catalogue."""
        self.items.setdefault(catalogue, {})[str(item["id"])] = item

    async def get(self, catalogue: str, id: str) -> dict[str, Any] | None:
        if self.failure is not None:
            raise self.failure
        return self.items.get(catalogue, {}).get(id)

    async def search(self, query: SearchQuery) -> SearchPage:
        if self.failure is not None:
            raise self.failure
        self.queries.append(query)
        found: list[dict[str, Any]] = []
        for item in self.items.get(query.catalogue.value, {}).values():
            if item.get("status") != "open":
                continue
            if query.rome_codes and item.get("rome_code") not in query.rome_codes:
                continue
            distance = None
            place = _place(item)
            if query.area is not None:
                if place is None:
                    continue
                distance = _km((query.area.lat, query.area.lon), place)
                if distance > query.area.radius_km:
                    continue
            found.append({**item, "distance_km": None if distance is None else round(distance, 3)})
        found.sort(key=lambda i: (i["distance_km"] or 0.0, i["id"]))
        return SearchPage(found[: query.limit], None)


def vacancy_item(vacancy_id: str, **fields: Any) -> dict[str, Any]:
    """A vacancy as the search port serves it (the sample aide-soignant offer of Bourg-en-Bresse, overridden)."""
    from vocation_catalogue.adapters.postgres.search import _item
    from vocation_catalogue.core.projection import vacancy_row
    from vocation_catalogue.testing.builders import NOW, vacancy_event

    row = vacancy_row(vacancy_event(vacancy_id, **fields).data, NOW)
    return _item({**row.columns, "distance_km": None})
