"""Settings of the catalogue, from `VOCATION_*` environment variables."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from vocation_shared.contracts.producers import Service
from vocation_shared.settings import CommonSettings


class CatalogueSettings(CommonSettings):
    """The common settings plus the observatory's small-count threshold, the applications' clock
    and relay, and what the pages need (the link signer is `link_signer()`, common)."""

    service_name: str = "catalogue"
    publisher: ClassVar[Service] = Service.CATALOGUE
    default_http_port: ClassVar[int] = 8081
    observatory_min_people: int = Field(
        default=5,
        ge=1,
        description="The observatory hides counts of candidates under this (1 shows them all).",
    )
    links_renewal_url: str = Field(
        default="http://127.0.0.1:8083/liens/nouveau",
        description="Where an expired link's page posts its token for a fresh link (notifications).",
    )
    applications_clock_every_s: float = Field(
        default=300.0,
        gt=0,
        description="How often unanswered applications past their 10 working days are closed.",
    )
    applications_relay_every_s: float = Field(
        default=1.0,
        gt=0,
        description="How often the applications' outbox is relayed when no command wakes it.",
    )
