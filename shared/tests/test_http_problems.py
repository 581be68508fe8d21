"""Every error of a service built by `create_app` is problem+json (RFC 9457), and its OpenAPI document says so."""

from __future__ import annotations

from importlib.metadata import version
from typing import Annotated

import httpx
import pytest
from fastapi import Query
from vocation_shared.http import PROBLEM_CONTENT_TYPE, Problem, ProblemError, create_app

pytestmark = pytest.mark.unit


def _app(language: str = "en") -> httpx.AsyncClient:
    app = create_app(title="t", description="d", distribution="vocation-shared", language=language)  # type: ignore[arg-type]

    @app.get("/items")
    async def items(limit: Annotated[int, Query(ge=1, le=10)] = 5) -> dict[str, int]:
        return {"limit": limit}

    @app.get("/refused")
    async def refused() -> None:
        raise ProblemError(Problem(409, "taken", "Already taken", "someone else has it"), {"X-Why": "t"})

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("jean.dupont@example.org")

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    )


async def test_an_invalid_parameter_is_a_422_naming_it_without_echoing_it() -> None:
    async with _app() as client:
        answer = await client.get("/items", params={"limit": "jean.dupont@example.org"})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM_CONTENT_TYPE
    body = answer.json()
    assert body["type"] == "urn:vocation:problem:invalid-request"
    assert [(e["parameter"], e["in"], e["pointer"]) for e in body["errors"]] == [
        ("limit", "query", "/query/limit")
    ]
    assert "dupont" not in answer.text


async def test_unknown_path_wrong_method_raised_problem_and_crash_are_all_problems() -> None:
    async with _app() as client:
        missing = await client.get("/nowhere")
        method = await client.delete("/items")
        refused = await client.get("/refused")
        broken = await client.get("/broken")
    assert (missing.status_code, missing.json()["type"]) == (404, "urn:vocation:problem:not-found")
    assert (method.status_code, method.json()["type"]) == (405, "urn:vocation:problem:method-not-allowed")
    assert method.headers["allow"] == "GET"
    assert refused.json() == {
        "type": "urn:vocation:problem:taken",
        "title": "Already taken",
        "status": 409,
        "detail": "someone else has it",
    }
    assert refused.headers["x-why"] == "t"
    assert (broken.status_code, broken.json()["type"]) == (500, "urn:vocation:problem:internal-error")
    assert "dupont" not in broken.text
    for answer in (missing, method, refused, broken):
        assert answer.headers["content-type"] == PROBLEM_CONTENT_TYPE


async def test_in_french_the_titles_are_french() -> None:
    async with _app("fr") as client:
        missing = await client.get("/nowhere")
    assert missing.json()["title"] == "Page introuvable"
    assert "lien" in missing.json()["detail"]


async def test_the_document_has_the_package_version_and_problem_answers() -> None:
    async with _app() as client:
        document = (await client.get("/openapi.json")).json()
    assert document["info"]["version"] == version("vocation-shared")
    responses = document["paths"]["/items"]["get"]["responses"]
    assert PROBLEM_CONTENT_TYPE in responses["422"]["content"]
    assert PROBLEM_CONTENT_TYPE in responses["default"]["content"]
    assert "HTTPValidationError" not in str(document)
