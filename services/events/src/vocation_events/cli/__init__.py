"""Operator commands: `vocation partners|events|replay|dlq …` (registered as `vocation.cli` plugins)."""

from vocation_events.cli.archive import events_app, replay_app, replay_slice
from vocation_events.cli.common import describe_database
from vocation_events.cli.dead_letters import dlq_app
from vocation_events.cli.partners import partners_app

__all__ = ["describe_database", "dlq_app", "events_app", "partners_app", "replay_app", "replay_slice"]
