"""Fuzzing the published OpenAPI: whatever a client sends, the gateway never answers a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from vocation_events.testing.fakes import FakeWorld

pytestmark = [pytest.mark.unit, pytest.mark.slow]

WORLD = FakeWorld()
schema = schemathesis.openapi.from_asgi("/openapi.json", WORLD.app)


@schema.parametrize()
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_the_gateway_fail(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error])


@schema.parametrize()
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_of_an_authenticated_partner_makes_the_gateway_fail(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"Authorization": "Bearer key-all"}, checks=[not_a_server_error])


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_of_the_gateway_is_the_one_its_document_describes(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers={"Authorization": "Bearer key-all"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_headers_conformance,
            response_schema_conformance,
        ],
    )
