"""Each service publishes with the source the contract registry gives it (consumers refuse any other)."""

from __future__ import annotations

import importlib

import pytest
from vocation_shared.contracts.producers import Service
from vocation_shared.settings import CommonSettings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("service", list(Service))
def test_each_service_publishes_with_its_registry_source(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VOCATION_EVENT_SOURCE", raising=False)
    module = importlib.import_module(f"vocation_{service.value}.settings")
    [settings_class] = [
        c
        for c in vars(module).values()
        if isinstance(c, type) and issubclass(c, CommonSettings) and c is not CommonSettings
    ]
    assert settings_class().event_source == service.source == f"urn:vocation:{service.value}"
