"""Topic administration for operators and tools: create the registry's topics on a cluster and
bring the configuration of existing ones back to the registry's (reporting the drift)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from vocation_shared.contracts.topics import TopicSpec

REQUEST_TIMEOUT_MS = 10_000
APPLIED_WITHIN_S = 15.0
"""How long brokers may take to show an accepted config change before it counts as refused."""


def admin_client(bootstrap: str, client_id: str = "vocation-admin") -> AIOKafkaAdminClient:
    """An aiokafka admin client (not started)."""
    return AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        client_id=client_id,
    )


async def topic_metadata(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, Any]:
    topics: list[dict[str, Any]] = await admin.describe_topics(names)
    return {t["topic"]: t for t in topics}


def _all_led(meta: dict[str, Any], names: Iterable[str]) -> bool:
    for name in names:
        topic = meta.get(name)
        if topic is None or topic["error_code"] != 0 or not topic["partitions"]:
            return False
        if any(p["leader"] < 0 for p in topic["partitions"]):
            return False
    return True


DYNAMIC_TOPIC_CONFIG = 1
"""DescribeConfigs' `config_source` of a value set on the topic itself (not a broker default)."""


@dataclass(frozen=True, slots=True)
class Drift:
    """One topic-level setting that differs from the registry's."""

    topic: str
    key: str
    actual: str | None
    """The value in force on the cluster (None: the topic does not exist)."""
    wanted: str

    def __str__(self) -> str:
        actual = "absent" if self.actual is None else self.actual
        return f"{self.topic}: {self.key} = {actual}, registry: {self.wanted}"


@dataclass(frozen=True, slots=True)
class PartitionsDiffer:
    """A topic with another partition count than the registry's: reported, never changed.

    Adding partitions moves keys to other partitions (an entity's events would lose their order),
    so it is an operator's decision, not a reconciliation's.
    """

    topic: str
    actual: int
    wanted: int

    def __str__(self) -> str:
        return f"{self.topic}: {self.actual} partitions, registry: {self.wanted} (not changed)"


@dataclass(slots=True)
class TopicsReport:
    """What `ensure_topics` found and did."""

    missing: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    """Settings that differed from the registry (changed unless checking only)."""
    partitions: list[PartitionsDiffer] = field(default_factory=list)
    applied: bool = False

    @property
    def in_line(self) -> bool:
        """Whether the cluster already matched the registry (no topic missing, no setting off)."""
        return not self.missing and not self.drift


def config_drift(spec: TopicSpec, in_force: Mapping[str, str | None]) -> list[Drift]:
    """The registry settings of `spec` whose value in force differs (`in_force`: key -> value)."""
    return [
        Drift(spec.name, key, in_force.get(key), wanted)
        for key, wanted in spec.kafka_config().items()
        if in_force.get(key) != wanted
    ]


def merged_overrides(spec: TopicSpec, overrides: Mapping[str, str]) -> dict[str, str]:
    """The topic-level settings to write: those set on the topic by hand, then the registry's.

    The legacy AlterConfigs request (the one aiokafka's admin client sends; it has no
    IncrementalAlterConfigs) replaces every topic-level setting: the ones not in the registry are
    sent back unchanged so that they are kept.
    """
    return {**overrides, **spec.kafka_config()}


@dataclass(frozen=True, slots=True)
class _Config:
    in_force: dict[str, str | None]
    overrides: dict[str, str]


async def _describe_configs(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, _Config]:
    if not names:
        return {}
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    found: dict[str, _Config] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.to_object()["resources"]:
            name = resource["resource_name"]
            if resource["error_code"] != 0:
                error = for_code(resource["error_code"])
                raise KafkaError(f"cannot describe the config of {name}: {error.__name__}")
            config = _Config({}, {})
            for entry in resource["config_entries"]:
                key, value = entry["config_names"], entry["config_value"]
                config.in_force[key] = value
                source = entry.get("config_source")
                dynamic = (
                    source == DYNAMIC_TOPIC_CONFIG if source is not None else not entry.get("is_default")
                )
                if dynamic and value is not None:
                    config.overrides[key] = value
            found[name] = config
    return found


async def _alter_configs(admin: AIOKafkaAdminClient, configs: dict[str, dict[str, str]]) -> None:
    resources = [ConfigResource(ConfigResourceType.TOPIC, name, configs=c) for name, c in configs.items()]
    for response in await admin.alter_configs(resources):
        for resource in response.to_object()["resources"]:
            if resource["error_code"] != 0:
                error = for_code(resource["error_code"])
                message = resource.get("error_message") or error.message
                raise KafkaError(f"cannot alter the config of {resource['resource_name']}: {message}")


async def reconcile_topics(
    admin: AIOKafkaAdminClient, specs: Iterable[TopicSpec], *, apply: bool
) -> TopicsReport:
    """Compare the existing topics of `specs` with the registry; with `apply`, set what differs."""
    report = TopicsReport()
    wanted = {spec.name: spec for spec in specs}
    existing = set(await admin.list_topics())
    report.missing = [name for name in wanted if name not in existing]
    present = [name for name in wanted if name in existing]
    meta = await topic_metadata(admin, present)
    for name in present:
        count = len(meta[name]["partitions"]) if name in meta else 0
        if count and count != wanted[name].partitions:
            report.partitions.append(PartitionsDiffer(name, count, wanted[name].partitions))
    configs = await _describe_configs(admin, present)
    to_alter: dict[str, dict[str, str]] = {}
    for name in present:
        drift = config_drift(wanted[name], configs[name].in_force)
        if drift:
            report.drift += drift
            to_alter[name] = merged_overrides(wanted[name], configs[name].overrides)
    if apply and to_alter:
        await _alter_configs(admin, to_alter)
        left = await _settled_drift(admin, {name: wanted[name] for name in to_alter})
        if left:
            raise KafkaError(f"the cluster kept settings off the registry: {', '.join(map(str, left))}")
        report.applied = True
    return report


async def _settled_drift(
    admin: AIOKafkaAdminClient, wanted: dict[str, TopicSpec], within_s: float = APPLIED_WITHIN_S
) -> list[Drift]:
    """The drift left once the brokers applied an accepted change, read again until none or `within_s`.

    An accepted AlterConfigs is written to the cluster's metadata log; the broker that answers a
    DescribeConfigs applies it a moment later (longer on a loaded machine), so one read right
    after may still show the old values.
    """
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        after = await _describe_configs(admin, list(wanted))
        left = [d for name in wanted for d in config_drift(wanted[name], after[name].in_force)]
        if not left or asyncio.get_running_loop().time() >= deadline:
            return left
        await asyncio.sleep(0.2)


async def ensure_topics(
    bootstrap: str,
    specs: Iterable[TopicSpec],
    *,
    replication_factor: int = 1,
    ready_within: float = 30.0,
    check_only: bool = False,
) -> TopicsReport:
    """Create the missing topics of `specs` and set the registry's config on the existing ones.

    Returns what differed from the registry and what was done. With `check_only`, nothing is
    created or changed. Partition counts are reported, never changed.
    """
    specs = list(specs)
    admin = admin_client(bootstrap)
    try:
        await admin.start()
        report = await reconcile_topics(admin, specs, apply=not check_only)
        if not check_only:
            report.created = await _create_missing(admin, specs, replication_factor, ready_within)
        return report
    finally:
        await admin.close()


async def create_topics(
    bootstrap: str,
    specs: Iterable[TopicSpec],
    *,
    replication_factor: int = 1,
    ready_within: float = 30.0,
) -> list[str]:
    """Create every topic of `specs` that does not exist yet; return the names created.

    The configuration of existing topics is brought back to the registry's (`ensure_topics`); their
    partitions are not changed. Waits until every topic of `specs` has a leader for each partition,
    so producing right after works.
    """
    report = await ensure_topics(
        bootstrap, specs, replication_factor=replication_factor, ready_within=ready_within
    )
    return report.created


async def _create_missing(
    admin: AIOKafkaAdminClient,
    specs: Iterable[TopicSpec],
    replication_factor: int,
    ready_within: float,
) -> list[str]:
    wanted = {spec.name: spec for spec in specs}
    existing = set(await admin.list_topics())
    missing = [spec for name, spec in wanted.items() if name not in existing]
    created: list[str] = []
    if missing:
        new_topics = [
            NewTopic(s.name, s.partitions, replication_factor, topic_configs=s.kafka_config())
            for s in missing
        ]
        response = await admin.create_topics(new_topics, timeout_ms=int(ready_within * 1000))
        for entry in response.to_object()["topic_errors"]:
            error = for_code(entry["error_code"])
            if entry["error_code"] == 0:
                created.append(entry["topic"])
            elif error is not TopicAlreadyExistsError:
                message = entry.get("error_message") or error.message
                topic = entry["topic"]
                raise KafkaError(f"cannot create topic {topic}: {error.__name__} {message}")
    deadline = time.monotonic() + ready_within
    names = list(wanted)
    while not _all_led(await topic_metadata(admin, names), names):
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics have no leader after {ready_within}s: {names}")
        await asyncio.sleep(0.1)
    return created
