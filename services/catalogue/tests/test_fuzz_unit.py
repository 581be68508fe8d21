"""Fuzzed requests on every endpoint of the API (generated from its OpenAPI): never a server error."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from vocation_catalogue.adapters.http import create_http_app
from vocation_catalogue.core.search import SearchQuery
from vocation_catalogue.ports import SearchPage

pytestmark = pytest.mark.unit


class EmptySearch:
    """Validates nothing more than the API does; answers nothing."""

    async def search(self, query: SearchQuery) -> SearchPage:
        """No results."""
        return SearchPage([], None)

    async def get(self, catalogue: str, id: str) -> dict[str, Any] | None:
        """Nothing found."""
        return None


schema = schemathesis.openapi.from_asgi("/openapi.json", create_http_app(EmptySearch(), []))


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzzed_request_never_gets_a_server_error(case: schemathesis.Case) -> None:
    response = case.call()
    assert response.status_code < 500, response.text
