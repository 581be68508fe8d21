"""The FastAPI application every service starts from: problem+json for every error, one version scheme."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from http import HTTPStatus
from importlib.metadata import version
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from vocation_shared.contracts.codec import FieldError, json_pointer
from vocation_shared.http.problems import (
    PROBLEM_CONTENT_TYPE,
    PROBLEM_SCHEMA,
    ErrorItem,
    ParameterError,
    Problem,
    ProblemError,
)
from vocation_shared.logs import get_logger

log = get_logger(__name__)

Language = Literal["en", "fr"]
Render = Callable[[Request, Problem, "dict[str, str] | None"], Response]
"""How a problem is answered: problem+json by default; a service may show a page to a browser."""

_FRENCH_TITLES = {
    400: "Requête invalide",
    401: "Authentification requise",
    403: "Accès refusé",
    404: "Page introuvable",
    405: "Méthode non autorisée",
    406: "Format de réponse non disponible",
    413: "Requête trop volumineuse",
    415: "Type de contenu non pris en charge",
    422: "Requête invalide",
    429: "Trop de requêtes",
    500: "Erreur inattendue",
    503: "Service momentanément indisponible",
}
_FRENCH_DETAILS = {
    404: "Cette adresse n'existe pas. Vérifiez le lien que vous avez reçu.",
    500: "Un incident nous empêche de répondre. Il a été enregistré ; merci de réessayer plus tard.",
}
_ENGLISH_TITLES = {422: "The request is invalid", 500: "Unexpected error; it was logged"}
_PLACES = frozenset({"query", "path", "header", "cookie"})


def title_of(status: int, language: Language = "en") -> str:
    """The title of a status for people: its reason phrase, or its French wording."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    if language == "fr":
        return _FRENCH_TITLES.get(status, _FRENCH_TITLES[500 if status >= 500 else 400])
    return _ENGLISH_TITLES.get(status, phrase)


def kind_of(status: int) -> str:
    """The type of a plain HTTP error: its reason phrase in kebab case (`not-found`, `method-not-allowed`)."""
    if status not in HTTPStatus._value2member_map_:
        return "http-error"
    return HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")


def validation_errors(errors: list[dict[str, Any]] | Any) -> tuple[ErrorItem, ...]:
    """FastAPI's validation errors, located (parameter name, or pointer into the body), input not echoed."""
    found: list[ErrorItem] = []
    for error in errors:
        location = tuple(error.get("loc", ()))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if len(location) >= 2 and location[0] in _PLACES:
            found.append(ParameterError(str(location[1]), location[0], message))
        else:
            body = location[1:] if location and location[0] == "body" else location
            found.append(FieldError(json_pointer(body), message))
    return tuple(found)


def json_problem(_: Request, problem: Problem, headers: dict[str, str] | None) -> Response:
    """The default rendering: `application/problem+json`."""
    return problem.response(headers)


def install_problem_handlers(
    app: FastAPI, *, language: Language = "en", render: Render = json_problem
) -> None:
    """Answer every error of `app` as problem details: 404, 405, validation (422), raised problems, 500."""

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problem = Problem(
            422, "invalid-request", title_of(422, language), errors=validation_errors(exc.errors())
        )
        return render(request, problem, None)

    async def raised(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        return render(request, exc.problem, exc.headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        given = str(exc.detail) if exc.detail is not None else ""
        plain = status in HTTPStatus._value2member_map_ and given == HTTPStatus(status).phrase
        detail = _FRENCH_DETAILS.get(status, "") if language == "fr" and plain else ("" if plain else given)
        problem = Problem(status, kind_of(status), title_of(status, language), detail)
        return render(request, problem, dict(exc.headers or {}) or None)

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("http.unexpected_error", path=request.url.path, error=type(exc).__name__, exc_info=exc)
        problem = Problem(
            500, "internal-error", title_of(500, language), _FRENCH_DETAILS[500] if language == "fr" else ""
        )
        return render(request, problem, None)

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(ProblemError, raised)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


@cache
def api_version(distribution: str) -> str:
    """The version of an OpenAPI document: the version of the service's package (its pyproject.toml)."""
    return version(distribution)


def create_app(
    *,
    title: str,
    description: str,
    distribution: str,
    language: Language = "en",
    render: Render = json_problem,
) -> FastAPI:
    """A FastAPI app whose errors are all problem details, and whose OpenAPI document says so.

    `distribution` names the service's package: its version is the document's. Every operation
    documents a `default` problem answer, and FastAPI's validation answer (422) is replaced by
    the problem it really is, so that a client (and schemathesis) can check every answer.
    """
    app = FastAPI(title=title, version=api_version(distribution), description=description)
    install_problem_handlers(app, language=language, render=render)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def document_problems(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with problem+json for 422 and as every operation's `default` answer."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    problem = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if "422" in responses and "HTTPValidationError" in str(responses["422"]):
                responses["422"] = {
                    "description": "Invalid parameters: `errors` names each one.",
                    "content": problem,
                }
            responses.setdefault(
                "default", {"description": "An error (RFC 9457 problem details).", "content": problem}
            )
    if not schemas:
        document["components"].pop("schemas")
    return document
