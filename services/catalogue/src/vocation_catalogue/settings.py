"""Settings of the catalogue, from `VOCATION_*` environment variables."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from vocation_shared.contracts.producers import Service
from vocation_shared.settings import CommonSettings


class CatalogueSettings(CommonSettings):
    """The common settings plus the observatory's small-count threshold and the pages' links."""

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
        description="Where the page of an expired link posts its token for a fresh one (notifications).",
    )
