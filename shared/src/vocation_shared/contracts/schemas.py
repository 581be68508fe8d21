"""JSON Schemas and the AsyncAPI 3 document, generated from the event models (the single source of truth)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from vocation_shared.contracts.envelope import CLOUDEVENTS_CONTENT_TYPE
from vocation_shared.contracts.events import EVENT_MODELS
from vocation_shared.contracts.topics import DLQ_SUFFIX, ENTITY_TOPICS, TopicSpec

ASYNCAPI_VERSION = "3.0.0"
CONTRACTS_VERSION = "1.0.0"


def event_schema(model: type[Any]) -> dict[str, Any]:
    """The standalone JSON Schema (2020-12) of one event type."""
    schema: dict[str, Any] = model.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://vocation.example/schemas/{model.TYPE}.json",
        **schema,
    }


def _key_description(topic: TopicSpec) -> str:
    if topic.record_id_field is None:
        return "The CloudEvent subject"
    return (
        f"`<subject>/<{topic.record_id_field}>`; the partition is chosen by the murmur2 of the subject "
        "(the part before `/`)"
    )


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every topic and event type."""
    _, definitions = models_json_schema(
        [(model, "validation") for model in EVENT_MODELS],
        ref_template="#/components/schemas/{model}",
    )
    schemas = definitions.get("$defs", {})
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in ENTITY_TOPICS:
        topic_messages = {}
        for model in EVENT_MODELS:
            if topic.name != model.TOPIC:
                continue
            name = model.__name__
            messages[name] = {
                "name": model.TYPE,
                "title": name,
                "summary": (model.__doc__ or "").strip().splitlines()[0],
                "contentType": CLOUDEVENTS_CONTENT_TYPE.split(";")[0],
                "payload": {"$ref": f"#/components/schemas/{name}"},
                "bindings": {"kafka": {"key": {"type": "string", "description": _key_description(topic)}}},
            }
            topic_messages[name] = {"$ref": f"#/components/messages/{name}"}
        channel_id = topic.name
        channels[channel_id] = {
            "address": topic.name,
            "description": topic.description,
            "messages": topic_messages,
            "bindings": {
                "kafka": {
                    "partitions": topic.partitions,
                    "topicConfiguration": {"cleanup.policy": str(topic.cleanup).split(",")},
                }
            },
        }
        operations[f"publish-{topic.name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"Events written to `{topic.name}`; failures of its consumers go to `{topic.name}{DLQ_SUFFIX}`.",
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{m}"} for m in topic_messages],
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Vocation events",
            "version": CONTRACTS_VERSION,
            "description": (
                "CloudEvents 1.0 in structured JSON mode exchanged by Vocation's services "
                "and partners. Generated from the pydantic models in vocation_shared.contracts."
            ),
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {"local": {"host": "127.0.0.1:9092", "protocol": "kafka", "description": "make infra-up"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def rendered_files() -> dict[str, str]:
    """Every generated file, by path relative to the contracts folder, with its exact text."""
    files = {f"schemas/{model.TYPE}.json": _dump(event_schema(model)) for model in EVENT_MODELS}
    files["asyncapi.json"] = _dump(asyncapi_document())
    return files


def write_all(folder: Path) -> list[Path]:
    """Write the generated files under `folder`, removing stale schemas; returns what was written."""
    written = []
    files = rendered_files()
    schema_dir = folder / "schemas"
    schema_dir.mkdir(parents=True, exist_ok=True)
    for stale in schema_dir.glob("*.json"):
        if f"schemas/{stale.name}" not in files:
            stale.unlink()
    for relative, text in files.items():
        path = folder / relative
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
