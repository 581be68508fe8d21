"""The HTTP API of the gateway: `POST /v1/events` and `POST /v1/events/batch`, problem+json errors."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import FastAPI, Query, Request, Response, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from vocation_shared.contracts.codec import FieldError
from vocation_shared.http import ParameterError, create_app, problem_doc
from vocation_shared.http.bodies import BodyTooLarge, read_body
from vocation_shared.http.problems import PROBLEM_SCHEMA
from vocation_shared.logs import get_logger

from vocation_events.adapters.metrics import PrometheusMetrics
from vocation_events.auth import Authenticator
from vocation_events.core.ingestion import check_event, check_model, check_models, latest_time, validate_batch
from vocation_events.core.ownership import KINDS
from vocation_events.core.partners import Partner
from vocation_events.core.problems import Problem
from vocation_events.core.ratelimit import retry_after_seconds
from vocation_events.handlers.ingestion import ACCEPTED, DUPLICATE, REJECTED, Ingestion, Outcome
from vocation_events.ports import Owners, RateLimits, Unavailable
from vocation_events.settings import EventsSettings

log = get_logger(__name__)

SINGLE_TYPES = frozenset({"application/cloudevents+json", "application/json"})
BATCH_TYPES = frozenset({"application/cloudevents-batch+json", "application/json"})
RETRY_AFTER_UNAVAILABLE_S = 5
ENTITIES_PAGE = 1000
ENTITIES_MAX_PAGE = 10_000

_bearer = HTTPBearer(auto_error=False, description="The partner's API key: `Authorization: Bearer <key>`.")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="The partner's API key.")
_BEARER = Security(_bearer)
_API_KEY = Security(_api_key)

_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A CloudEvents 1.0 event in structured JSON mode; `data` follows the schema of its `type`.",
    "required": ["specversion", "id", "source", "type", "subject", "time", "data"],
    "properties": {
        "specversion": {"type": "string", "enum": ["1.0"]},
        "id": {"type": "string", "maxLength": 200},
        "source": {"type": "string", "maxLength": 500},
        "type": {"type": "string", "examples": ["fr.vocation.vacancy.posted.v1"]},
        "subject": {"type": "string", "maxLength": 200},
        "time": {"type": "string", "format": "date-time"},
        "datacontenttype": {"type": "string", "enum": ["application/json"]},
        "dataschema": {"type": "string"},
        "data": {"type": "object"},
    },
}
_RESULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "status"],
    "properties": {
        "index": {"type": "integer"},
        "id": {"type": ["string", "null"]},
        "status": {"type": "string", "enum": [ACCEPTED, DUPLICATE, REJECTED]},
        "problem": PROBLEM_SCHEMA,
    },
}


def _problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response:
    return problem.response(headers)


_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: problem_doc("The body is not JSON."),
    401: problem_doc("Missing, unknown or revoked API key."),
    403: problem_doc(
        "This partner may not publish this event: its type (`/type`: not allowed, or an internal fact of "
        "the platform), its `source` (`/source`), an entity another partner owns (`not-owner`: "
        "`/subject` or the field naming it), or a consent change only the platform states "
        "(`/data/change/origin`)."
    ),
    413: problem_doc("The body is too large, or the batch holds too many events."),
    415: problem_doc("Wrong content type."),
    422: problem_doc(
        "The event breaks its contract, or its `time` is more than 5 minutes ahead of the platform's "
        "clock (`time-in-the-future`, `/time`); `errors` locates each problem by JSON pointer."
    ),
    429: problem_doc("Rate limit of this partner reached; see `Retry-After`."),
    503: problem_doc("Kafka or PostgreSQL unreachable: the event was NOT accepted; retry later."),
}


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _batch_answer(outcomes: list[Outcome]) -> bytes:
    """The 202 body of a batch: counts, then each event's outcome in order (`Outcome.as_dict`)."""
    counts = Counter(o[0] for o in outcomes)
    results = [
        {"index": i, "id": o[1], "status": o[0]} if o[2] is None else o.as_dict(i)
        for i, o in enumerate(outcomes)
    ]
    return orjson.dumps(
        {
            "accepted": counts[ACCEPTED],
            "duplicates": counts[DUPLICATE],
            "rejected": counts[REJECTED],
            "results": results,
        }
    )


def create_http_app(
    *,
    ingestion: Ingestion,
    authenticator: Authenticator,
    limiter: RateLimits,
    metrics: PrometheusMetrics,
    settings: EventsSettings,
    owners: Owners | None = None,
    routers: list[Any] | None = None,
) -> FastAPI:
    """The gateway's FastAPI app: translates requests for `ingestion` (the operations router is passed in
    by the composition root)."""
    app = create_app(
        title="Vocation events gateway",
        distribution="vocation-events",
        description=(
            "Partners publish CloudEvents 1.0 (structured JSON mode) here. An event is `accepted` only "
            "once Kafka acknowledged it (acks=all); (`source`, `id`) is unique: a re-sent event is a "
            "`duplicate` and is published once. Errors are problem+json (RFC 9457). Partners may also "
            "receive the events about offers and sites, and the applications to their own vacancies, by "
            "webhook (see Webhooks below)."
        ),
    )

    @app.webhooks.post(
        "vocation-event",
        summary="An event a partner subscribed to (`vocation partners subscribe`)",
        description=(
            "The CloudEvent as it is on the platform's topic, POSTed to the subscription's URL. "
            "Headers (Standard Webhooks v1): `webhook-id` (the CloudEvent id, the same on every "
            "retry: deduplicate by it), `webhook-timestamp` (Unix seconds), `webhook-signature` "
            "(`v1,` + base64 of HMAC-SHA256, keyed with the base64 part of the subscription's "
            "`whsec_` secret, over `<webhook-id>.<webhook-timestamp>.<body>`). Answer 2xx within 10 s; "
            "anything else is retried with doubling delays and jitter (15-30 s first, up to 1 h), 12 "
            "attempts. An entity's "
            "events arrive in order. Offers and sites; and the applications to a partner's own "
            "vacancies (`application.submitted`, `.answered`, `.withdrawn`: ids, the candidate's "
            "message, share flags and summary, never a contact), sent only to the partner that owns "
            "the vacancy (`data.offer_id`). Nothing else about a person is ever sent."
        ),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/cloudevents+json": {"schema": _EVENT_SCHEMA}},
            }
        },
        responses={200: {"description": "Received (any 2xx)."}},
    )
    def vocation_event() -> None:
        """Documentation only: the platform calls the partner."""

    async def _authorise(
        request: Request,
        endpoint: str,
        bearer: HTTPAuthorizationCredentials | None,
        api_key: str | None,
        allowed_types: frozenset[str],
        limit: int,
    ) -> tuple[Partner, bytes] | Response:
        """The partner and the body, or the answer refusing the request (401, 415, 413, 503)."""
        key = bearer.credentials if bearer is not None else api_key
        try:
            partner = await authenticator.partner(key)
        except Unavailable as exc:
            return _unavailable(endpoint, str(exc))
        except Exception as exc:  # the partner store is down: not the caller's fault
            return _unavailable(endpoint, f"PostgreSQL unavailable: {type(exc).__name__}")
        if partner is None:
            metrics.requests.labels(endpoint, "401").inc()
            return _problem_response(
                Problem(
                    401,
                    "unauthorized",
                    "Missing, unknown or revoked API key",
                    "Send `Authorization: Bearer <key>` or `X-API-Key: <key>`.",
                ),
                {"WWW-Authenticate": 'Bearer realm="vocation"'},
            )
        if _media_type(request) not in allowed_types:
            metrics.requests.labels(endpoint, "415").inc()
            return _problem_response(
                Problem(
                    415,
                    "unsupported-media-type",
                    "Unsupported content type",
                    f"send one of: {', '.join(sorted(allowed_types))}",
                )
            )
        try:
            body = await read_body(request, limit)
        except BodyTooLarge:
            metrics.requests.labels(endpoint, "413").inc()
            return _problem_response(
                Problem(413, "too-large", "The body is too large", f"the limit is {limit} bytes")
            )
        return partner, body

    def _parse(endpoint: str, body: bytes) -> Any:
        """The body's JSON value, or the 400 answer."""
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            metrics.requests.labels(endpoint, "400").inc()
            return _problem_response(
                Problem(
                    400,
                    "unparsable",
                    "The body is not valid JSON",
                    str(exc),
                    (FieldError("", f"not valid JSON: {exc}"),),
                )
            )

    async def _rate_limited(endpoint: str, partner: Partner, cost: int) -> Response | None:
        try:
            wait = await limiter.take(partner.name, partner.rate_per_s, partner.burst, cost)
        except Unavailable as exc:
            return _unavailable(endpoint, str(exc))
        if wait <= 0:
            return None
        metrics.requests.labels(endpoint, "429").inc()
        seconds = retry_after_seconds(wait)
        return _problem_response(
            Problem(
                429,
                "rate-limited",
                "Too many events for this partner",
                f"retry in {seconds} s; nothing in this request was accepted",
            ),
            {"Retry-After": str(seconds)},
        )

    def _unavailable(endpoint: str, why: str) -> Response:
        metrics.requests.labels(endpoint, "503").inc()
        log.warning("gateway.unavailable", endpoint=endpoint, error=why)
        return _problem_response(
            Problem(
                503,
                "unavailable",
                "The event was not accepted: the platform cannot store it now",
                f"{why}; nothing in this request was accepted, send it again later",
            ),
            {"Retry-After": str(RETRY_AFTER_UNAVAILABLE_S)},
        )

    @app.post(
        "/v1/events",
        status_code=202,
        summary="Publish one event",
        responses={
            200: {"description": "Already accepted before: a duplicate, published once."},
            202: {"description": "Accepted: Kafka acknowledged it."},
            **_ERROR_RESPONSES,
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {t: {"schema": _EVENT_SCHEMA} for t in sorted(SINGLE_TYPES)},
            }
        },
    )
    async def publish_one(
        request: Request,
        bearer: HTTPAuthorizationCredentials | None = _BEARER,
        api_key: str | None = _API_KEY,
    ) -> Response:
        endpoint = "single"
        checked = await _authorise(request, endpoint, bearer, api_key, SINGLE_TYPES, settings.max_event_bytes)
        if isinstance(checked, Response):
            return checked
        partner, body = checked
        document = _parse(endpoint, body)
        if isinstance(document, Response):
            return document
        limited = await _rate_limited(endpoint, partner, 1)
        if limited is not None:
            return limited
        try:
            (outcome,) = await ingestion.ingest(partner, [document])
        except Unavailable as exc:
            return _unavailable(endpoint, str(exc))
        if outcome.problem is not None:
            metrics.requests.labels(endpoint, str(outcome.problem.status)).inc()
            return _problem_response(outcome.problem)
        status = 202 if outcome.status == ACCEPTED else 200
        metrics.requests.labels(endpoint, str(status)).inc()
        return Response(orjson.dumps(outcome.as_dict()), status_code=status, media_type="application/json")

    @app.post(
        "/v1/events/batch",
        status_code=202,
        summary="Publish up to 1,000 events; each gets its own outcome",
        responses={
            202: {
                "description": "Processed: every `accepted` event was acknowledged by Kafka.",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "accepted": {"type": "integer"},
                                "duplicates": {"type": "integer"},
                                "rejected": {"type": "integer"},
                                "results": {"type": "array", "items": _RESULT_SCHEMA},
                            },
                        }
                    }
                },
            },
            **_ERROR_RESPONSES,
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    t: {
                        "schema": {
                            "type": "array",
                            "items": _EVENT_SCHEMA,
                            "maxItems": settings.max_batch_events,
                        }
                    }
                    for t in sorted(BATCH_TYPES)
                },
            }
        },
    )
    async def publish_batch(
        request: Request,
        bearer: HTTPAuthorizationCredentials | None = _BEARER,
        api_key: str | None = _API_KEY,
    ) -> Response:
        endpoint = "batch"
        checked = await _authorise(request, endpoint, bearer, api_key, BATCH_TYPES, settings.max_batch_bytes)
        if isinstance(checked, Response):
            return checked
        partner, body = checked
        fast = await _validated_batch(partner, body)
        if fast is not None:
            items, models = fast
            all_valid = all(type(item) in models for item in items)
            # Some are not valid events: the per-event path explains them, from the same parser.
            documents: Any = items if all_valid else _parse(endpoint, body)
            if isinstance(documents, Response):  # e.g. NaN, which only the fast parser takes
                return documents
            if len(items) > settings.max_batch_events:
                return _too_many_events(endpoint)
            limited = await _rate_limited(endpoint, partner, max(1, len(items)))
            if limited is not None:
                return limited
            latest = latest_time()
            checked_events = (
                check_models(items, partner, latest)
                if all_valid
                else [
                    check_model(item, partner, latest)
                    if type(item) in models
                    else check_event(document, partner, latest)
                    for item, document in zip(items, documents, strict=True)
                ]
            )
            try:
                outcomes = await ingestion.ingest_checked(partner, checked_events, documents)
            except Unavailable as exc:
                return _unavailable(endpoint, str(exc))
            metrics.requests.labels(endpoint, "202").inc()
            return Response(_batch_answer(outcomes), status_code=202, media_type="application/json")
        documents = _parse(endpoint, body)
        if isinstance(documents, Response):
            return documents
        if not isinstance(documents, list):
            metrics.requests.labels(endpoint, "422").inc()
            return _problem_response(
                Problem(
                    422,
                    "not-a-batch",
                    "A batch is a JSON array of CloudEvents",
                    errors=(FieldError("", "expected a JSON array"),),
                )
            )
        if len(documents) > settings.max_batch_events:
            return _too_many_events(endpoint)
        limited = await _rate_limited(endpoint, partner, max(1, len(documents)))
        if limited is not None:
            return limited
        try:
            outcomes = await ingestion.ingest(partner, documents)
        except Unavailable as exc:
            return _unavailable(endpoint, str(exc))
        metrics.requests.labels(endpoint, "202").inc()
        return Response(_batch_answer(outcomes), status_code=202, media_type="application/json")

    async def _validated_batch(partner: Partner, body: bytes) -> tuple[list[Any], frozenset[type]] | None:
        """The batch validated from its bytes in one pass, when that answers as the per-event path.

        Not for ROME v3 partners (their codes are converted before validation), nor when the
        partner's bucket could refuse a full batch (a 429 must cost no validation): then None.
        """
        if partner.rome_v3:
            return None
        try:
            available = await limiter.available(partner.name, partner.rate_per_s, partner.burst)
        except Unavailable:
            return None  # the per-event path asks again and answers 503
        if available < settings.max_batch_events:
            return None
        return validate_batch(body)

    def _too_many_events(endpoint: str) -> Response:
        metrics.requests.labels(endpoint, "413").inc()
        return _problem_response(
            Problem(
                413,
                "too-many-events",
                "The batch holds too many events",
                f"at most {settings.max_batch_events} events per batch",
            )
        )

    @app.get(
        "/v1/entities",
        summary="The entities this partner owns, of one kind",
        description=(
            "The first partner that publishes an entity's id owns it (per kind); only its owner may "
            "publish about it. This lists the caller's own entities of `kind`, by id, a page at a "
            "time: follow `next` until it is null. To check a migration."
        ),
        responses={
            200: {
                "description": "A page of the caller's entities.",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "kind": {"type": "string", "enum": sorted(KINDS)},
                                "items": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "id": {"type": "string"},
                                            "since": {"type": "string", "format": "date-time"},
                                        },
                                    },
                                },
                                "next": {"type": ["string", "null"]},
                            },
                        }
                    }
                },
            },
            401: _ERROR_RESPONSES[401],
            422: problem_doc("Unknown `kind`, or a bad `limit`."),
            429: _ERROR_RESPONSES[429],
            503: _ERROR_RESPONSES[503],
        },
    )
    async def list_entities(
        request: Request,
        kind: Annotated[str, Query(description=f"One of: {', '.join(sorted(KINDS))}.", max_length=50)],
        after: Annotated[
            str | None,
            Query(
                description="The last id of the previous page.",
                max_length=128,
                pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$",
            ),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=ENTITIES_MAX_PAGE)] = ENTITIES_PAGE,
        bearer: HTTPAuthorizationCredentials | None = _BEARER,
        api_key: str | None = _API_KEY,
    ) -> Response:
        endpoint = "entities"
        key = bearer.credentials if bearer is not None else api_key
        try:
            partner = await authenticator.partner(key)
        except Exception as exc:  # the partner store is down: not the caller's fault
            return _unavailable(endpoint, f"PostgreSQL unavailable: {type(exc).__name__}")
        if partner is None:
            metrics.requests.labels(endpoint, "401").inc()
            return _problem_response(
                Problem(401, "unauthorized", "Missing, unknown or revoked API key"),
                {"WWW-Authenticate": 'Bearer realm="vocation"'},
            )
        if kind not in KINDS:
            metrics.requests.labels(endpoint, "422").inc()
            message = f"unknown kind {kind[:50]!r}; one of: {', '.join(sorted(KINDS))}"
            return _problem_response(
                Problem(
                    422,
                    "invalid-request",
                    "The request is invalid",
                    message,
                    (ParameterError("kind", "query", message),),
                )
            )
        limited = await _rate_limited(endpoint, partner, 1)
        if limited is not None:
            return limited
        if owners is None:
            return _unavailable(endpoint, "no owner store")
        try:
            found = await owners.owned(partner.source, kind, after, limit)
        except Exception as exc:
            return _unavailable(endpoint, f"PostgreSQL unavailable: {type(exc).__name__}")
        next_page = (
            str(request.url.path)
            + "?"
            + urlencode({"kind": kind, "after": found[-1].entity_id, "limit": limit})
            if len(found) == limit
            else None
        )
        metrics.requests.labels(endpoint, "200").inc()
        return Response(
            orjson.dumps(
                {
                    "kind": kind,
                    "items": [{"id": e.entity_id, "since": e.since} for e in found],
                    "next": next_page,
                }
            ),
            media_type="application/json",
        )

    for router in routers or []:
        app.include_router(router)
    return app
