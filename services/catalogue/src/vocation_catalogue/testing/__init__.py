"""Test doubles of the catalogue: event builders (`builders`) and in-memory fakes of its ports (`fakes`)."""

from __future__ import annotations

from vocation_catalogue.testing.builders import (
    NOW,
    TODAY,
    days,
    fixed_clock,
    request_event,
    run_id,
    slot_event,
    slot_payload,
    training_event,
    vacancy_event,
)
from vocation_catalogue.testing.fakes import (
    FakeBookings,
    FakeDatabase,
    FakeErasures,
    FakeMetrics,
    FakeObservatory,
    FakeOutcomes,
    FakeProcessedEvents,
    FakeReadModels,
    FakeSearch,
    FakeSink,
    FakeSlotFeed,
    FakeUnitOfWork,
    FakeUnitsOfWork,
)

__all__ = [
    "NOW",
    "TODAY",
    "FakeBookings",
    "FakeDatabase",
    "FakeErasures",
    "FakeMetrics",
    "FakeObservatory",
    "FakeOutcomes",
    "FakeProcessedEvents",
    "FakeReadModels",
    "FakeSearch",
    "FakeSink",
    "FakeSlotFeed",
    "FakeUnitOfWork",
    "FakeUnitsOfWork",
    "days",
    "fixed_clock",
    "request_event",
    "run_id",
    "slot_event",
    "slot_payload",
    "training_event",
    "vacancy_event",
]
