"""Test doubles of the matching service: in-memory fakes of its ports (`fakes`) and factories of core
candidates and offers (`factories`) for tests and benchmarks."""

from __future__ import annotations

from vocation_matching.testing.factories import (
    AMBERIEU_EN_BUGEY,
    BOURG_EN_BRESSE,
    TODAY,
    apprentice,
    apprenticeship,
    candidate,
    immersion,
    training,
    vacancy,
)
from vocation_matching.testing.fakes import (
    FakeDatabase,
    FakeLearning,
    FakeLedger,
    FakeMatchEvents,
    FakeMetrics,
    FakeUnitOfWork,
    FakeUnitsOfWork,
    FixedClock,
)

__all__ = [
    "AMBERIEU_EN_BUGEY",
    "BOURG_EN_BRESSE",
    "TODAY",
    "FakeDatabase",
    "FakeLearning",
    "FakeLedger",
    "FakeMatchEvents",
    "FakeMetrics",
    "FakeUnitOfWork",
    "FakeUnitsOfWork",
    "FixedClock",
    "apprentice",
    "apprenticeship",
    "candidate",
    "immersion",
    "training",
    "vacancy",
]
