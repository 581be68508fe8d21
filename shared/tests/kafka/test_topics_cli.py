"""`vocation topics create` against the real broker: creates what is missing, brings drifted settings
back to the registry's (reporting them), and again changes nothing."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from typer.testing import CliRunner
from vocation_shared.cli import app
from vocation_shared.contracts.topics import DAY_MS, WEEK_MS, YEAR_MS, Cleanup, TopicSpec, all_topics, spec_of
from vocation_shared.kafka.admin import Drift, TopicsReport, admin_client, ensure_topics

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
    assert "0 settings changed on 0 topics" in again.output
    assert again.output.strip().endswith(f"0 topics created, {len(all_topics())} already there")
    check = runner.invoke(app, ["topics", "create", "--check"])
    assert check.exit_code == 0, check.output
    assert "in line with the registry" in check.output


async def _config(admin: AIOKafkaAdminClient, topic: str) -> dict[str, str]:
    [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    [resource] = response.to_object()["resources"]
    return {e["config_names"]: e["config_value"] for e in resource["config_entries"]}


async def _set(admin: AIOKafkaAdminClient, topic: str, configs: dict[str, str]) -> None:
    await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=configs)])


async def test_an_existing_topic_made_before_the_erasure_settings_gets_them_and_keeps_its_own(
    kafka_bootstrap: str,
) -> None:
    name = f"reconcile-{uuid.uuid4().hex[:8]}"
    spec = TopicSpec(name, Cleanup.COMPACT, partitions=1)
    # As made before the erasure settings: Kafka's defaults, plus a setting of the operator's own.
    before = {"max.compaction.lag.ms": "9223372036854775807", "segment.ms": "604800000"}
    old = TopicSpec(
        name, Cleanup.COMPACT, partitions=1, extra_config=before | {"max.message.bytes": "2097152"}
    )
    admin = admin_client(kafka_bootstrap)
    await admin.start()
    try:
        assert await ensure_topics(kafka_bootstrap, [old]) == TopicsReport(missing=[name], created=[name])
        checked = await ensure_topics(kafka_bootstrap, [spec], check_only=True)
        assert not checked.applied and not checked.in_line
        assert Drift(name, "max.compaction.lag.ms", "9223372036854775807", str(DAY_MS)) in checked.drift
        assert (await _config(admin, name)).get("segment.ms") != str(DAY_MS)  # --check changes nothing

        report = await ensure_topics(kafka_bootstrap, [spec])
        assert report.applied and report.created == []
        assert {d.key for d in report.drift} == {"max.compaction.lag.ms", "segment.ms"}
        config = await _config(admin, name)
        assert config["max.compaction.lag.ms"] == str(DAY_MS)
        assert config["segment.ms"] == str(DAY_MS)
        assert config["max.message.bytes"] == "2097152"  # set by hand, not the registry's business
        assert (await ensure_topics(kafka_bootstrap, [spec], check_only=True)).in_line
    finally:
        await admin.delete_topics([name])
        await admin.close()


async def test_check_reports_a_drifted_dead_letter_topic_and_create_fixes_it(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOCATION_KAFKA_BOOTSTRAP", kafka_bootstrap)
    dlq = spec_of("matches.dlq")
    admin = admin_client(kafka_bootstrap)
    await admin.start()
    try:
        # As a cluster provisioned before dead letters about people were kept 30 days.
        await _set(admin, dlq.name, {"cleanup.policy": "delete", "retention.ms": str(YEAR_MS)})
        runner = CliRunner()
        check = await asyncio.to_thread(runner.invoke, app, ["topics", "create", "--check"])
        assert check.exit_code == 1, check.output
        assert f"drift matches.dlq: retention.ms = {YEAR_MS}, registry: {30 * DAY_MS}" in check.output
        assert f"drift matches.dlq: segment.ms = 604800000, registry: {DAY_MS}" in check.output
        assert "run without --check to fix" in check.output
        fixed = await asyncio.to_thread(runner.invoke, app, ["topics", "create"])
        assert fixed.exit_code == 0, fixed.output
        assert f"changed matches.dlq: retention.ms = {YEAR_MS}, registry: {30 * DAY_MS}" in fixed.output
        config = await _config(admin, dlq.name)
        assert config["retention.ms"] == str(30 * DAY_MS)
        assert config["segment.ms"] == str(DAY_MS)
    finally:
        await _set(admin, dlq.name, dlq.kafka_config())
        await admin.close()


async def test_a_delete_topic_about_people_is_made_compact_delete_with_its_retention_kept(
    kafka_bootstrap: str,
) -> None:
    name = f"facts-{uuid.uuid4().hex[:8]}"
    # As `matches` was before erasure reached it: delete only, 4 weeks, rolled daily.
    old = TopicSpec(name, Cleanup.DELETE, partitions=1, retention_ms=4 * WEEK_MS, holds_personal_data=True)
    spec = TopicSpec(
        name, Cleanup.COMPACT_DELETE, partitions=1, retention_ms=4 * WEEK_MS, holds_personal_data=True
    )
    admin = admin_client(kafka_bootstrap)
    await admin.start()
    try:
        await ensure_topics(kafka_bootstrap, [old])
        checked = await ensure_topics(kafka_bootstrap, [spec], check_only=True)
        assert Drift(name, "cleanup.policy", "delete", "compact,delete") in checked.drift
        assert (await _config(admin, name))["cleanup.policy"] == "delete"  # --check changes nothing
        report = await ensure_topics(kafka_bootstrap, [spec])
        assert report.applied
        config = await _config(admin, name)
        assert config["cleanup.policy"] == "compact,delete"
        assert config["retention.ms"] == str(4 * WEEK_MS)
        assert config["min.compaction.lag.ms"] == str(WEEK_MS)
        assert config["max.compaction.lag.ms"] == str(WEEK_MS + DAY_MS)
        assert (await ensure_topics(kafka_bootstrap, [spec], check_only=True)).in_line
    finally:
        await admin.delete_topics([name])
        await admin.close()
