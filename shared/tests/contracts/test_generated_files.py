"""The checked-in JSON Schemas and AsyncAPI document are those the models generate."""

from __future__ import annotations

from pathlib import Path

import pytest
from vocation_shared.contracts.schemas import asyncapi_document, rendered_files

pytestmark = pytest.mark.unit

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"


def test_checked_in_schemas_and_asyncapi_are_current() -> None:
    stale = []
    for relative, text in rendered_files().items():
        path = CONTRACTS_DIR / relative
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(relative)
    extra = {f"schemas/{p.name}" for p in (CONTRACTS_DIR / "schemas").glob("*.json")} - set(rendered_files())
    assert not stale and not extra, (
        f"stale: {stale}, extra: {sorted(extra)}; run `make contracts` and commit the result"
    )


def test_asyncapi_is_version_3_with_a_channel_per_topic() -> None:
    document = asyncapi_document()
    assert document["asyncapi"].startswith("3.")
    assert "vacancies" in document["channels"]
    assert "VacancyPosted" in document["channels"]["vacancies"]["messages"]
    assert document["channels"]["vacancies"]["bindings"]["kafka"]["topicConfiguration"]["cleanup.policy"] == [
        "compact"
    ]
