"""The registry's topic settings for erasure, and how drift from them is computed (unit tests)."""

from __future__ import annotations

import pytest
from vocation_shared.contracts.topics import (
    DAY_MS,
    WEEK_MS,
    YEAR_MS,
    Cleanup,
    TopicSpec,
    all_topics,
    personal_topics,
    spec_of,
)
from vocation_shared.kafka.admin import Drift, config_drift, merged_overrides

pytestmark = pytest.mark.unit

PERSONAL = {
    "candidates",
    "candidate-contacts",
    "matches",
    "notifications",
    "immersion-bookings",
    "applications",
}


def test_compacted_topics_compact_an_erased_record_within_a_day() -> None:
    compacted = [s for s in all_topics() if s.cleanup is Cleanup.COMPACT]
    assert {s.name for s in compacted} >= {"candidates", "candidate-contacts", "vacancies"}
    for spec in compacted:
        config = spec.kafka_config()
        assert int(config["max.compaction.lag.ms"]) <= DAY_MS, spec.name
        assert int(config["segment.ms"]) <= DAY_MS, spec.name
        assert config["min.compaction.lag.ms"] == "0", spec.name


def test_facts_about_people_are_compacted_after_a_week_and_still_deleted_by_age() -> None:
    for name, retention in (
        ("matches", 4 * WEEK_MS),
        ("notifications", 4 * WEEK_MS),
        ("immersion-bookings", YEAR_MS),
    ):
        config = spec_of(name).kafka_config()
        assert config["cleanup.policy"] == "compact,delete", name
        assert config["retention.ms"] == str(retention), name
        assert config["min.compaction.lag.ms"] == str(WEEK_MS), name
        assert config["max.compaction.lag.ms"] == str(WEEK_MS + DAY_MS), name
        assert config["delete.retention.ms"] == str(WEEK_MS), name
    for spec in all_topics():
        if spec.name.endswith(".dlq"):
            assert spec.cleanup is Cleanup.DELETE, spec.name


def test_a_policy_changed_to_compact_delete_is_a_drift_to_reconcile() -> None:
    spec = spec_of("matches")
    as_before = {**spec.kafka_config(), "cleanup.policy": "delete", "min.compaction.lag.ms": "0"}
    assert {d.key for d in config_drift(spec, as_before)} == {"cleanup.policy", "min.compaction.lag.ms"}


def test_topics_about_people_are_known_and_roll_daily() -> None:
    assert set(personal_topics()) == PERSONAL
    for name in PERSONAL:
        assert int(spec_of(name).kafka_config()["segment.ms"]) <= DAY_MS, name


def test_dead_letters_about_people_are_kept_30_days_the_others_a_year() -> None:
    for spec in all_topics():
        if not spec.name.endswith(".dlq"):
            continue
        retention = int(spec.kafka_config()["retention.ms"])
        if spec.name.removesuffix(".dlq") in PERSONAL:
            assert retention == 30 * DAY_MS, spec.name
        else:
            assert retention == YEAR_MS, spec.name


SPEC = TopicSpec("t", Cleanup.COMPACT)


def test_no_drift_when_the_cluster_has_the_registry_values_even_by_default() -> None:
    assert config_drift(SPEC, {**SPEC.kafka_config(), "retention.ms": "604800000"}) == []


def test_each_setting_off_the_registry_is_one_drift_with_both_values() -> None:
    in_force: dict[str, str | None] = {**SPEC.kafka_config(), "max.compaction.lag.ms": "9223372036854775807"}
    del in_force["segment.ms"]
    assert config_drift(SPEC, in_force) == [
        Drift("t", "max.compaction.lag.ms", "9223372036854775807", str(DAY_MS)),
        Drift("t", "segment.ms", None, str(DAY_MS)),
    ]
    assert str(config_drift(SPEC, in_force)[1]) == f"t: segment.ms = absent, registry: {DAY_MS}"


def test_settings_set_by_hand_outside_the_registry_are_sent_back_unchanged() -> None:
    merged = merged_overrides(SPEC, {"max.message.bytes": "2097152", "segment.ms": "604800000"})
    assert merged["max.message.bytes"] == "2097152"
    assert merged["segment.ms"] == str(DAY_MS)
    assert merged.items() >= SPEC.kafka_config().items()
