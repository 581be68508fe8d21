"""Settings of the catalogue, from `VOCATION_*` environment variables."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from vocation_shared.contracts.producers import Service
from vocation_shared.settings import CommonSettings


class CatalogueSettings(CommonSettings):
    """The common settings plus the catalogue's HTTP address, consumer group and time zone."""

    service_name: str = "catalogue"
    publisher: ClassVar[Service] = Service.CATALOGUE
    http_host: str = Field(default="127.0.0.1", description="Address the HTTP API listens on.")
    http_port: int = Field(default=8081, ge=1, le=65535)
    consumer_group: str = Field(default="catalogue", description="Kafka consumer group of the read models.")
    timezone: str = Field(
        default="Europe/Paris", description="Time zone of 'today' (past slots, training deadlines)."
    )
    observatory_min_people: int = Field(
        default=5,
        ge=1,
        description="The observatory hides counts of candidates under this (1 shows them all).",
    )
