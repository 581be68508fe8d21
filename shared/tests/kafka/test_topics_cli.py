"""`vocation topics create` against the real broker: creates what is missing, and again changes nothing."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner
from vocation_shared.cli import app
from vocation_shared.contracts.topics import all_topics

pytestmark = pytest.mark.integration


def test_topics_create_leaves_every_registry_topic_in_place_and_can_run_again(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOCATION_KAFKA_BOOTSTRAP", kafka_bootstrap)
    runner = CliRunner()
    first = runner.invoke(app, ["topics", "create"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["topics", "create"])
    assert again.exit_code == 0, again.output
    assert again.output.strip().endswith(f"0 topics created, {len(all_topics())} already there")
