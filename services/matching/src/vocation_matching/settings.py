"""Settings of the matching service, from `VOCATION_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field
from vocation_shared.contracts.producers import Service
from vocation_shared.settings import CommonSettings


class MatchingSettings(CommonSettings):
    """What the matching service can be told: where to listen, how many matches, which caps."""

    service_name: str = "matching"
    publisher: ClassVar[Service] = Service.MATCHING
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/matching",
        description="PostgreSQL DSN of the matching database (the emitted matches).",
    )
    default_http_port: ClassVar[int] = 8082
    top_per_offer: int = Field(
        default=50, ge=1, le=10_000, description="Matches emitted for one offer event."
    )
    top_per_candidate: int = Field(
        default=10, ge=1, le=1000, description="Matches emitted for one candidate event."
    )
    min_score: int = Field(default=40, ge=0, le=100, description="Matches below this score are not emitted.")
    daily_cap_per_offer: int = Field(default=200, ge=0, description="Matches emitted per offer per day.")
    daily_cap_per_candidate: int = Field(
        default=20, ge=0, description="Matches emitted per candidate per day."
    )
    producer_batch_bytes: int = Field(
        default=512 * 1024,
        ge=16 * 1024,
        le=1024 * 1024,
        description="Largest batch of records per partition the producer builds (below the broker's 1 MB).",
    )
    grid_cell_scale: float = Field(
        default=1.0,
        gt=0,
        le=10,
        description="Grid cell of a radius class, as a fraction of its largest radius.",
    )
    snapshot_dir: Path | None = Field(
        default=None,
        description=(
            "Folder where the state is written at a clean stop and read at start (skipping most of the"
            " rebuild); unset: always rebuild from the topics. One folder per instance (e.g. a volume)."
        ),
    )
