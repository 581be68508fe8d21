"""Settings every service shares, read from `VOCATION_*` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    """Connection and behaviour settings common to every service.

    Each service subclasses it to add its own (HTTP port, database name…).
    """

    model_config = SettingsConfigDict(env_prefix="VOCATION_", extra="ignore", env_file=None)

    service_name: str = Field(
        default="vocation", description="Name used in logs, client ids and consumer groups."
    )
    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated."
    )
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        description="PostgreSQL DSN of this service's database.",
    )
    database_pool_size: int = Field(default=10, ge=1, le=100)
    log_level: str = Field(default="INFO")
    log_json: bool = Field(default=True, description="JSON log lines (false: human-readable console).")
    event_source: str = Field(
        default="urn:vocation:service",
        description="CloudEvents `source` of the events this service publishes.",
    )
    consumer_retry_initial_s: float = Field(default=0.2, gt=0)
    consumer_retry_max_s: float = Field(default=30.0, gt=0)
    consumer_max_attempts: int = Field(
        default=3,
        ge=1,
        description="Attempts for an unexpected error before the message goes to the DLQ.",
    )
