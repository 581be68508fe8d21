"""What a service publishes, as plain values: events, and tombstones that erase a key from a compacted topic."""

from __future__ import annotations

from dataclasses import dataclass

from vocation_shared.contracts.events import AnyEvent


@dataclass(frozen=True, slots=True)
class Tombstone:
    """A tombstone to publish (a null value): compaction removes every earlier record of `key`."""

    topic: str
    key: str


Fact = AnyEvent | Tombstone
"""A fact to publish: an event, or a tombstone (published after the facts before it)."""
