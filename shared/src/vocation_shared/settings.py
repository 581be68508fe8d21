"""Settings every service shares, read from `VOCATION_*` environment variables."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vocation_shared.contracts.producers import Service
from vocation_shared.postgres.retention import MIN_RETENTION_DAYS
from vocation_shared.pseudonyms import DEVELOPMENT_PSEUDONYM_KEY, Pseudonymizer
from vocation_shared.secrets import SecretProblem, weak_secret


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
    dev_mode: bool = Field(
        default=False,
        description=(
            "Development mode: secrets may keep their public defaults (the service says so at start). "
            "Set by `make run`, `make demo` and the tests; never in production."
        ),
    )
    pseudonym_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_PSEUDONYM_KEY),
        description=(
            "Key of the pseudonyms that ledgers keep instead of a person's id (the same in every service; "
            "never rotated: see vocation_shared.pseudonyms). The public default is refused outside "
            "development mode."
        ),
    )
    publisher: ClassVar[Service | None] = None
    """The service whose facts this process publishes (each service's settings name it)."""
    event_source: str = Field(
        default="",
        description=(
            "CloudEvents `source` of the events this service publishes: fixed by the contract registry "
            "(urn:vocation:<service>), leave it unset. Another value is refused at start: consumers "
            "dead-letter a service's facts under any other source."
        ),
    )
    consumer_retry_initial_s: float = Field(default=0.2, gt=0)
    consumer_retry_max_s: float = Field(default=30.0, gt=0)
    consumer_max_attempts: int = Field(
        default=3,
        ge=1,
        description="Attempts for an unexpected error before the message goes to the DLQ.",
    )
    retention_days: int = Field(
        default=400,
        ge=0,
        description=(
            "Idempotency records, the matching ledger and notifications finished this many days ago "
            f"are deleted (0: kept forever). At least {MIN_RETENTION_DAYS}: longer than any topic keeps an event."
        ),
    )
    retention_every_s: float = Field(
        default=3600.0, gt=0, description="Seconds between two retention passes."
    )

    @field_validator("retention_days")
    @classmethod
    def _outlives_the_topics(cls, days: int) -> int:
        if 0 < days < MIN_RETENTION_DAYS:
            raise ValueError(
                f"retention_days must be 0 (keep forever) or at least {MIN_RETENTION_DAYS}: an event still "
                "on a topic (a group reset, a dead letter re-driven) must find its idempotency record"
            )
        return days

    @model_validator(mode="after")
    def _source_of_the_registry(self) -> Self:
        expected = self.publisher.source if self.publisher is not None else ""
        if not self.event_source:
            self.event_source = expected
        elif self.event_source != expected:
            raise ValueError(
                f"VOCATION_EVENT_SOURCE must be {expected or 'unset'} (the contract registry's source of "
                f"this service), not {self.event_source!r}: consumers dead-letter its facts under any other "
                "source. Unset it."
            )
        return self

    def pseudonymizer(self) -> Pseudonymizer:
        """The deployment's pseudonymizer (see `pseudonym_key`)."""
        return Pseudonymizer(self.pseudonym_key.get_secret_value())

    def pseudonym_key_problem(self) -> SecretProblem | None:
        """What is wrong with the pseudonym key, for the service's `fail_closed` list."""
        return weak_secret(
            "VOCATION_PSEUDONYM_KEY",
            self.pseudonym_key.get_secret_value(),
            public_default=DEVELOPMENT_PSEUDONYM_KEY,
        )

    def retention(self) -> timedelta | None:
        """How long finished rows are kept (None: forever)."""
        return timedelta(days=self.retention_days) if self.retention_days else None
