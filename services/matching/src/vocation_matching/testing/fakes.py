"""In-memory fakes of the ports (ledger, learning, unit of work, match events, metrics, clock), with the
SQL's rules: checked against PostgreSQL by `tests/test_ledger_contract.py`."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from vocation_shared.contracts.vocabulary import MatchWithdrawalReason, OfferKind
from vocation_shared.testing.transaction import FakeTransaction

from vocation_matching.core.learning import Lesson
from vocation_matching.core.model import Match, OfferKey, OfferSource, Withdrawal
from vocation_matching.ports import Learned

RowKey = tuple[str, str, str, int]
"""(candidate id, offer source, offer id, offer version): the ledger's primary key."""


@dataclass
class Row:
    """A row of `emitted_matches`."""

    match_id: str
    offer_kind: OfferKind
    fingerprint: str
    score: int
    emitted_on: date
    withdrawal_reason: MatchWithdrawalReason | None = None


@dataclass
class FakeDatabase:
    """What the fake ledger holds, committed; `journal` says in which order things happened."""

    rows: dict[RowKey, Row] = field(default_factory=dict)
    declines: dict[tuple[str, OfferKey], tuple[str, Lesson]] = field(default_factory=dict)
    """(candidate id, offer) -> (event id, lesson): `match_declines`."""
    hires: dict[str, tuple[str, str]] = field(default_factory=dict)
    """application id -> (vacancy id, event id): `platform_hires`."""
    journal: list[str] = field(default_factory=list)
    commits: int = 0
    rollbacks: int = 0

    def standing(self) -> set[str]:
        """The match ids of the standing (not withdrawn) matches."""
        return {r.match_id for r in self.rows.values() if r.withdrawal_reason is None}


def _blocked(rows: dict[RowKey, Row], key: RowKey, fingerprint: str) -> bool:
    """A standing match of the same candidate and offer with the same material content."""
    return any(
        k[:3] == key[:3] and r.fingerprint == fingerprint and r.withdrawal_reason is None
        for k, r in rows.items()
    )


class FakeLedger:
    """`Ledger` on a dict, with the SQL's rules (never twice, fingerprints, daily caps, withdrawals)."""

    def __init__(self, rows: dict[RowKey, Row], caps: tuple[int, int]) -> None:
        self._rows = rows
        self._cap_offer, self._cap_candidate = caps

    async def record(self, matches: Sequence[Match], today: date) -> list[Match]:
        """The first match of each key, not emitted before nor blocked by a standing match with the
        same fingerprint, within the caps counted on today's rows, in order."""
        per_candidate = Counter(k[0] for k, r in self._rows.items() if r.emitted_on == today)
        per_offer = Counter((k[1], k[2]) for k, r in self._rows.items() if r.emitted_on == today)
        before = dict(self._rows)  # the statement's snapshot: what was there before this call
        recorded: list[Match] = []
        for match in matches:
            offer = match.offer
            key = (match.candidate_id, str(offer.source), offer.id, offer.version)
            if key in self._rows or _blocked(before, key, offer.fingerprint):
                continue
            offer_key = (str(offer.source), offer.id)
            if (
                per_offer[offer_key] >= self._cap_offer
                or per_candidate[match.candidate_id] >= self._cap_candidate
            ):
                continue
            per_offer[offer_key] += 1
            per_candidate[match.candidate_id] += 1
            self._rows[key] = Row(match.match_id, offer.kind, offer.fingerprint, match.score, today)
            recorded.append(match)
        return recorded

    def _withdraw(self, selected: list[RowKey], reason: MatchWithdrawalReason) -> list[Withdrawal]:
        gone = []
        for key in sorted(selected):
            row = self._rows[key]
            if row.withdrawal_reason is None:
                row.withdrawal_reason = reason
                gone.append(Withdrawal(row.match_id, key[0], key[2], row.offer_kind))
        return gone

    async def withdraw_offer(
        self, source: OfferSource, offer_id: str, reason: MatchWithdrawalReason
    ) -> list[Withdrawal]:
        """Every standing match of the offer, withdrawn."""
        return self._withdraw([k for k in self._rows if k[1:3] == (source, offer_id)], reason)

    async def withdraw_candidate(self, candidate_id: str, reason: MatchWithdrawalReason) -> list[Withdrawal]:
        """Every standing match of the candidate, withdrawn."""
        return self._withdraw([k for k in self._rows if k[0] == candidate_id], reason)

    async def withdraw_pairs(
        self, source: OfferSource, offer_id: str, candidate_ids: Sequence[str], reason: MatchWithdrawalReason
    ) -> list[Withdrawal]:
        """The offer's standing matches with these candidates, withdrawn."""
        wanted = set(candidate_ids)
        return self._withdraw(
            [k for k in self._rows if k[1:3] == (source, offer_id) and k[0] in wanted], reason
        )

    async def withdraw_candidate_pairs(
        self, candidate_id: str, offers: Sequence[OfferKey], reason: MatchWithdrawalReason
    ) -> list[Withdrawal]:
        """The candidate's standing matches with these offers, withdrawn."""
        wanted = {(str(s), o) for s, o in offers}
        return self._withdraw([k for k in self._rows if k[0] == candidate_id and k[1:3] in wanted], reason)

    async def forget_candidate(self, candidate_id: str) -> None:
        """The candidate's rows, deleted."""
        for key in [k for k in self._rows if k[0] == candidate_id]:
            del self._rows[key]

    async def standing_candidates(self, source: OfferSource, offer_id: str, before_version: int) -> list[str]:
        """Candidates with a standing match of an older version of the offer (sorted)."""
        return sorted(
            {
                k[0]
                for k, r in self._rows.items()
                if k[1:3] == (source, offer_id) and k[3] < before_version and r.withdrawal_reason is None
            }
        )

    async def standing_offers_of(self, candidate_ids: Sequence[str]) -> dict[str, list[OfferKey]]:
        """The offers each candidate has a standing match with (sorted, once each)."""
        found: dict[str, set[OfferKey]] = {}
        for k, r in self._rows.items():
            if k[0] in candidate_ids and r.withdrawal_reason is None:
                found.setdefault(k[0], set()).add((OfferSource(k[1]), k[2]))
        return {c: sorted(offers) for c, offers in found.items()}


class FakeLearning:
    """`Learning` on the fake database's dicts, with the SQL's rules (first refusal of a pair wins,
    a hire counted once per application or event); `since` gives everything (the margin is moot)."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    async def record_decline(self, event_id: str, candidate_id: str, lesson: Lesson) -> Lesson:
        """Keep the first refusal of the pair (a known event id inserts nothing); return the kept lesson."""
        key = (candidate_id, lesson.offer)
        if key not in self._db.declines and all(e != event_id for e, _ in self._db.declines.values()):
            self._db.declines[key] = (event_id, lesson)
        kept = self._db.declines.get(key)
        return kept[1] if kept is not None else lesson

    async def record_hire(self, event_id: str, application_id: str, vacancy_id: str) -> bool:
        """Count the hire once per application (and event)."""
        if application_id in self._db.hires or any(e == event_id for _, e in self._db.hires.values()):
            return False
        self._db.hires[application_id] = (vacancy_id, event_id)
        return True

    async def forget_candidate(self, candidate_id: str) -> None:
        """Delete a candidate's refusals."""
        for key in [k for k in self._db.declines if k[0] == candidate_id]:
            del self._db.declines[key]

    async def since(self, moment: datetime | None) -> Learned:
        """Every refusal and hire."""
        return Learned(
            [(candidate_id, lesson) for (candidate_id, _), (_, lesson) in self._db.declines.items()],
            [(vacancy_id, application_id) for application_id, (vacancy_id, _) in self._db.hires.items()],
            datetime.now(UTC),
        )


class FakeUnitOfWork(FakeTransaction):
    """A transaction on a `FakeDatabase`: works on a copy, kept on a clean exit, dropped on an exception."""

    ledger: FakeLedger
    learning: FakeLearning

    def __init__(self, db: FakeDatabase, caps: tuple[int, int]) -> None:
        self._db = db
        self._caps = caps
        self._rows: dict[RowKey, Row] = {}
        self._copy = FakeDatabase()

    async def begin(self) -> None:
        self._rows = copy.deepcopy(self._db.rows)
        self.ledger = FakeLedger(self._rows, self._caps)
        self._copy = FakeDatabase(declines=dict(self._db.declines), hires=dict(self._db.hires))
        self.learning = FakeLearning(self._copy)

    async def commit(self) -> None:
        self._db.rows = self._rows
        self._db.declines, self._db.hires = self._copy.declines, self._copy.hires
        self._db.commits += 1
        self._db.journal.append("commit")

    async def rollback(self) -> None:
        self._db.rollbacks += 1
        self._db.journal.append("rollback")


class FakeUnitsOfWork:
    """The `UnitsOfWork` port on one `FakeDatabase` (`db`), with the daily caps (offer, candidate)."""

    def __init__(
        self, db: FakeDatabase | None = None, *, cap_per_offer: int = 200, cap_per_candidate: int = 20
    ) -> None:
        self.db = db or FakeDatabase()
        self.caps = (cap_per_offer, cap_per_candidate)

    def __call__(self) -> FakeUnitOfWork:
        """A unit of work on the database."""
        return FakeUnitOfWork(self.db, self.caps)


@dataclass
class FakeMatchEvents:
    """`MatchEvents` that remembers what it published (and writes it in the database's journal);
    `fail` makes the next calls raise, as a broker that does not acknowledge."""

    db: FakeDatabase
    found_ids: list[str] = field(default_factory=list)
    found_matches: list[Match] = field(default_factory=list)
    withdrawn_ids: list[tuple[str, MatchWithdrawalReason]] = field(default_factory=list)
    tombstones: list[str] = field(default_factory=list)
    fail: Exception | None = None

    async def found(self, matches: Sequence[Match]) -> None:
        """Published, or `fail` raised."""
        if self.fail is not None:
            raise self.fail
        self.found_ids += [m.match_id for m in matches]
        self.found_matches += matches
        self.db.journal.append(f"found {len(matches)}")

    async def withdrawn(
        self, withdrawals: Sequence[Withdrawal], reason: MatchWithdrawalReason, *, erased: str | None = None
    ) -> None:
        """Published, or `fail` raised."""
        if self.fail is not None:
            raise self.fail
        self.withdrawn_ids += [(w.match_id, reason) for w in withdrawals]
        self.db.journal.append(f"withdrawn {len(withdrawals)}")
        if erased is not None:
            self.tombstones.append(erased)
            self.db.journal.append(f"tombstone {erased}")


@dataclass
class FakeMetrics:
    """`Metrics` as plain counters."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    timings: list[tuple[str, float]] = field(default_factory=list)

    def matched(self, direction: str, seconds: float) -> None:
        """Kept in `timings`."""
        self.timings.append((direction, seconds))

    def emitted(self, kind: OfferKind, count: int) -> None:
        """Counted under ("emitted", kind)."""
        self.counts["emitted", str(kind)] += count

    def withdrawn(self, reason: MatchWithdrawalReason, count: int) -> None:
        """Counted under ("withdrawn", reason)."""
        self.counts["withdrawn", str(reason)] += count

    def reacted(self, direction: str, count: int) -> None:
        """Counted under ("reacted", direction)."""
        self.counts["reacted", direction] += count


@dataclass(frozen=True)
class FixedClock:
    """A clock whose today never changes."""

    day: date

    def today(self) -> date:
        """The day it was given."""
        return self.day
