"""`/health/live`, `/health/ready` and `/metrics`, the same on every service."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import asyncpg
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from pydantic import BaseModel


class Liveness(BaseModel):
    """The process is up."""

    status: Literal["alive"]


class Readiness(BaseModel):
    """Whether the service takes work, and each check's state."""

    status: Literal["ready", "not ready"]
    checks: dict[str, Literal["ok", "failing"]]


@dataclass(frozen=True, slots=True)
class ReadinessCheck:
    """One dependency or condition the service needs before it takes work."""

    name: str
    check: Callable[[], Awaitable[bool]]
    timeout_s: float = 2.0


def operations_router(checks: list[ReadinessCheck], registry: CollectorRegistry = REGISTRY) -> APIRouter:
    """A router with the liveness, readiness and metrics endpoints."""
    router = APIRouter(tags=["operations"])

    @router.get("/health/live", summary="The process is up")
    async def live() -> Liveness:
        return Liveness(status="alive")

    @router.get(
        "/health/ready",
        summary="Every dependency is reachable and the service takes work",
        response_model=Readiness,
        responses={503: {"description": "Not ready: a check is failing.", "model": Readiness}},
    )
    async def ready() -> JSONResponse:
        results = await asyncio.gather(*(_run(c) for c in checks))
        detail = {c.name: ("ok" if ok else "failing") for c, ok in zip(checks, results, strict=True)}
        ok = all(results)
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": detail},
            status_code=200 if ok else 503,
        )

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router


async def _run(check: ReadinessCheck) -> bool:
    try:
        return await asyncio.wait_for(check.check(), check.timeout_s)
    except Exception:
        return False


def kafka_reachable(broker: KafkaBroker) -> ReadinessCheck:
    """Ready when the Kafka cluster answers a metadata request."""

    async def check() -> bool:
        return bool(await broker.ping(timeout=1.5))

    return ReadinessCheck("kafka", check)


def postgres_reachable(pool: asyncpg.Pool) -> ReadinessCheck:
    """Ready when PostgreSQL answers a query."""

    async def check() -> bool:
        return bool(await pool.fetchval("SELECT 1", timeout=1.5) == 1)

    return ReadinessCheck("postgresql", check)
