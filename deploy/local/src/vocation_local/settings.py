"""The `VOCATION_*` environment of the local tooling (infrastructure ports, folders, demo defaults)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LocalSettings(BaseSettings):
    """Where `vocation-infra` keeps its downloads and runs, and the ports of its Kafka and PostgreSQL."""

    model_config = SettingsConfigDict(env_prefix="VOCATION_", extra="ignore", env_file=None)

    cache_dir: Path | None = Field(default=None, description="Downloads and run folders (~/.cache/vocation).")
    run_dir: Path | None = Field(default=None, description="Data and pid files of `up` (<cache>/run).")
    kafka_port: int = Field(default=9092, ge=1, le=65535)
    kafka_controller_port: int = Field(default=0, ge=0, le=65535, description="0: the Kafka port + 1.")
    postgres_port: int = Field(default=5432, ge=1, le=65535)


class DemoSettings(BaseSettings):
    """Defaults of `make demo`'s options (`VOCATION_DEMO_*`), pointing at the platform of `make run`."""

    model_config = SettingsConfigDict(env_prefix="VOCATION_DEMO_", extra="ignore", env_file=None)

    pause: float = Field(default=4.0, ge=0, description="Seconds between the steps.")
    events_url: str = "http://127.0.0.1:8080"
    catalogue_url: str = "http://127.0.0.1:8081"
    mailbox_url: str = "http://127.0.0.1:8025"
    sms_file: Path | None = Field(default=None, description="The SMS sink (<run dir>/sms.jsonl).")
    events_database_url: str | None = None
    notifications_database_url: str | None = None
    partner: str = "demo-ain-landes"  # "vocation-demo" of earlier runs has a source now reserved
    api_key: str | None = None
    state_dir: Path | None = Field(
        default=None, description="The partner's key and the last run (<run dir>)."
    )


class SessionInfraSettings(BaseSettings):
    """Where a test session finds Kafka and PostgreSQL: given, in containers, or started here."""

    model_config = SettingsConfigDict(env_prefix="VOCATION_", extra="ignore", env_file=None)

    kafka_bootstrap: str = Field(default="", description="A running Kafka to use instead of starting one.")
    database_url: str = Field(default="", description="A running PostgreSQL (server-level DSN) to use.")
    test_infra: str = Field(default="auto", description="`local`: never containers, even where Docker runs.")
    test_kafka_image: str = "confluentinc/cp-kafka:7.9.0"
    test_postgres_image: str = "postgres:18"
