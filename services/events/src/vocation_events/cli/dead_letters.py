"""`vocation dlq …`: inspect and re-drive dead letters."""

from __future__ import annotations

from typing import Annotated

import typer

from vocation_events.adapters import dead_letters
from vocation_events.adapters.unit_of_work import PostgresUnitsOfWork
from vocation_events.cli.common import open_pool, open_sink, run
from vocation_events.core.dead_letters import Redrive
from vocation_events.settings import EventsSettings

dlq_app = typer.Typer(help="Dead letters: inspect and re-drive.", no_args_is_help=True)


@dlq_app.command("list")
def dlq_list(topic: str) -> None:
    """Print the dead letters of a topic: where, when, why (values are not printed: personal data)."""
    letters = run(dead_letters.list_dead_letters(EventsSettings().kafka_bootstrap, topic))
    for d in letters:
        state = "redriven" if d.redriven else "pending"
        key = (d.key or b"").decode("utf-8", errors="replace")
        kind = "tombstone" if d.tombstone else "event"
        typer.echo(
            f"{d.partition}:{d.offset}\t{d.timestamp:%Y-%m-%dT%H:%M:%SZ}\t{state}\t{kind}\t{d.reason}\t"
            f"key={key}\tconsumer={d.headers.get('dlq.consumer', '?')}\t"
            f"from={d.headers.get('dlq.original.topic', '?')}/{d.headers.get('dlq.original.partition', '?')}"
            f"@{d.headers.get('dlq.original.offset', '?')}\t{d.headers.get('dlq.error', '')[:300]}"
        )
    typer.echo(f"{len(letters)} dead letters, {sum(not d.redriven for d in letters)} not re-driven")


@dlq_app.command("redrive")
def dlq_redrive(
    topic: str,
    reason: Annotated[str | None, typer.Option(help="Only the letters of this reason.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
) -> None:
    """Write the dead letters not yet re-driven back to their original topic, once.

    Letters about a candidate erased since (the events database's `erasures` table) are skipped for
    good; a dead-lettered tombstone is re-driven as a tombstone.
    """
    settings = EventsSettings()

    async def go() -> Redrive:
        async with open_pool(settings) as pool, open_sink(settings) as sink:
            return await dead_letters.redrive(
                settings.kafka_bootstrap,
                topic,
                sink,
                reason,
                dry_run,
                units=PostgresUnitsOfWork(pool, settings.pseudonymizer()),
            )

    done = run(go())
    tombstones = sum(d.tombstone for d in done.redriven)
    typer.echo(
        f"{'would re-drive' if dry_run else 're-drove'} {len(done.redriven)} dead letters of {topic} "
        f"({tombstones} tombstones); {'would skip' if dry_run else 'skipped'} {len(done.erased)} "
        "about erased candidates"
    )
