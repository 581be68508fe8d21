"""Settings every service shares, read from `VOCATION_*` environment variables."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any, ClassVar, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vocation_shared.contracts.producers import Service
from vocation_shared.kafka.consumer import RetryPolicy
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
    default_http_port: ClassVar[int] = 8080
    """The service's own port (events 8080, catalogue 8081, matching 8082, notifications 8083)."""
    http_host: str = Field(default="127.0.0.1", description="Address the HTTP server listens on.")
    http_port: int = Field(
        default=8080,
        ge=0,
        le=65535,
        description="Port the HTTP server listens on (unset: the service's own).",
    )
    consumer_group: str = Field(
        default="",
        description=(
            "Kafka consumer group of the service, or the prefix of its per-topic groups (unset: the "
            "service's name). Every instance of a service shares it; a second deployment on the same "
            "cluster needs its own."
        ),
    )
    timezone: str = Field(
        default="Europe/Paris", description="Where 'today' is: dates, daily caps, quiet hours, digests."
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
    renamed: ClassVar[dict[str, str]] = {}
    """Old environment variables of the service and their new names: a process where one is set
    refuses to start, rather than run on a default the operator did not choose."""
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
    consumer_retry_initial_s: float = Field(
        default=0.2, gt=0, description="First wait before a consumer retries a failed message."
    )
    consumer_retry_max_s: float = Field(
        default=30.0, gt=0, description="Longest wait between two retries of a consumer."
    )
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

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/Paris)") from exc
        return name

    @model_validator(mode="before")
    @classmethod
    def _service_port(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("http_port") is None:
            return {**data, "http_port": cls.default_http_port}
        return data

    @model_validator(mode="after")
    def _no_old_names(self) -> Self:
        found = sorted(old for old in self.renamed if old in os.environ)
        if found:
            raise ValueError(
                "renamed settings: "
                + ", ".join(f"{old} is now {self.renamed[old]}" for old in found)
                + " (unset the old name)"
            )
        return self

    @model_validator(mode="after")
    def _service_group(self) -> Self:
        if not self.consumer_group:
            self.consumer_group = self.service_name
        return self

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

    def retry_policy(self) -> RetryPolicy:
        """How this service's consumers retry (`consumer_retry_*`, `consumer_max_attempts`)."""
        return RetryPolicy(
            initial_s=self.consumer_retry_initial_s,
            max_s=self.consumer_retry_max_s,
            max_attempts=self.consumer_max_attempts,
        )

    def retention(self) -> timedelta | None:
        """How long finished rows are kept (None: forever)."""
        return timedelta(days=self.retention_days) if self.retention_days else None
