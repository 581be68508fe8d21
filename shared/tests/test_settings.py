"""Settings come from VOCATION_* environment variables, with local defaults."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

import pytest
from pydantic import ValidationError
from vocation_shared.contracts.producers import Service
from vocation_shared.settings import CommonSettings

pytestmark = pytest.mark.unit


def test_defaults_point_at_the_local_infrastructure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOCATION_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.delenv("VOCATION_DATABASE_URL", raising=False)
    settings = CommonSettings()
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.database_url.startswith("postgresql://postgres@127.0.0.1:5432/")


def test_environment_overrides_the_infrastructure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOCATION_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("VOCATION_DATABASE_URL", "postgresql://vocation@db:5432/events")
    monkeypatch.setenv("VOCATION_CONSUMER_MAX_ATTEMPTS", "5")
    settings = CommonSettings()
    assert settings.kafka_bootstrap == "kafka-1:9092,kafka-2:9092"
    assert settings.database_url.endswith("/events")
    assert settings.consumer_max_attempts == 5


def test_a_bad_value_is_refused_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOCATION_CONSUMER_MAX_ATTEMPTS", "zero")
    with pytest.raises(ValueError, match="consumer_max_attempts"):
        CommonSettings()


def test_retention_shorter_than_a_topic_keeps_events_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOCATION_RETENTION_DAYS", "30")
    with pytest.raises(ValueError, match="retention_days must be 0"):
        CommonSettings()


def test_retention_zero_keeps_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOCATION_RETENTION_DAYS", "0")
    assert CommonSettings().retention() is None
    monkeypatch.setenv("VOCATION_RETENTION_DAYS", "500")
    assert CommonSettings().retention() == timedelta(days=500)


class _MatchingLike(CommonSettings):
    publisher: ClassVar[Service] = Service.MATCHING


def test_a_service_publishes_with_its_registry_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOCATION_EVENT_SOURCE", raising=False)
    assert _MatchingLike().event_source == "urn:vocation:matching"
    monkeypatch.setenv("VOCATION_EVENT_SOURCE", "urn:vocation:matching")
    assert _MatchingLike().event_source == "urn:vocation:matching"


def test_another_source_is_refused_at_start_with_the_variable_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOCATION_EVENT_SOURCE", "urn:partner:matching-bis")
    with pytest.raises(ValidationError, match="VOCATION_EVENT_SOURCE must be urn:vocation:matching"):
        _MatchingLike()


class _PortedSettings(CommonSettings):
    service_name: str = "catalogue"
    default_http_port: ClassVar[int] = 8081


def test_each_service_listens_on_its_own_port_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOCATION_HTTP_PORT", raising=False)
    assert _PortedSettings().http_port == 8081
    assert _PortedSettings(http_port=0).http_port == 0
    monkeypatch.setenv("VOCATION_HTTP_PORT", "9100")
    assert _PortedSettings().http_port == 9100


def test_the_consumer_group_defaults_to_the_service_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOCATION_CONSUMER_GROUP", raising=False)
    assert _PortedSettings().consumer_group == "catalogue"
    monkeypatch.setenv("VOCATION_CONSUMER_GROUP", "catalogue-blue")
    assert _PortedSettings().consumer_group == "catalogue-blue"


def test_an_unknown_time_zone_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        CommonSettings(timezone="Europe/Atlantis")


def test_the_retry_policy_is_read_from_the_consumer_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOCATION_CONSUMER_RETRY_INITIAL_S", "0.5")
    monkeypatch.setenv("VOCATION_CONSUMER_MAX_ATTEMPTS", "7")
    policy = CommonSettings().retry_policy()
    assert (policy.initial_s, policy.max_s, policy.max_attempts) == (0.5, 30.0, 7)


class _RenamedSettings(CommonSettings):
    renamed: ClassVar[dict[str, str]] = {"VOCATION_OLD_GROUP": "VOCATION_CONSUMER_GROUP"}


def test_a_renamed_setting_still_set_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _RenamedSettings().consumer_group == "vocation"
    monkeypatch.setenv("VOCATION_OLD_GROUP", "blue")
    with pytest.raises(ValidationError, match="VOCATION_OLD_GROUP is now VOCATION_CONSUMER_GROUP"):
        _RenamedSettings()
