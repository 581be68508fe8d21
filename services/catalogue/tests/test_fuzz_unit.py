"""Fuzzed requests on every endpoint (generated from the OpenAPI document): no server error, and
every answer (status, content type, body) is the one the document describes."""

from __future__ import annotations

from typing import Any

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
from vocation_catalogue.adapters.postgres.search import _item
from vocation_catalogue.core.projection import Row, slot_row, training_row, vacancy_row
from vocation_catalogue.testing import NOW, FakeSearch, slot_payload, training_event, vacancy_event

pytestmark = pytest.mark.unit


def _answer(row: Row, distance_km: float | None = 1.5) -> dict[str, Any]:
    """An item as the PostgreSQL search builds it from its row."""
    return _item({**row.columns, "distance_km": distance_km})


ITEMS = {
    "vacancies": _answer(vacancy_row(vacancy_event("vac-1").data, NOW)),
    "immersions": _answer(slot_row(slot_payload("slot-1", tutor_name="Jeanne Martin"), NOW)),
    "trainings": _answer(training_row(training_event("session-1").data, NOW), None),
}


def app() -> Any:
    from vocation_catalogue.adapters.http import create_http_app

    return create_http_app(FakeSearch(ITEMS, "next-page"), [])


# Conformance of the answers; not `positive_data_acceptance`: a parameter can be of its documented
# type and still be refused by name (an unknown commune, a domain letter beyond N), as a 422 problem.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

schema = schemathesis.openapi.from_asgi("/openapi.json", app())


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_is_the_one_the_document_describes(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)
