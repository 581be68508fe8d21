"""`vocation events show` and `vocation replay`: read the archive, republish from it."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import typer
from vocation_shared.contracts.events import EVENT_TYPES
from vocation_shared.contracts.topics import Topic
from vocation_shared.kafka.headers import cloudevent_headers
from vocation_shared.logs import configure_logging, get_logger
from vocation_shared.sealing import ContactKeyError

from vocation_events.adapters.archive_store import PostgresArchive
from vocation_events.cli.common import open_pool, open_sink, run
from vocation_events.core.archive_sealing import ArchiveSeal
from vocation_events.core.ingestion import Record
from vocation_events.settings import EventsSettings

events_app = typer.Typer(help="The event archive.", no_args_is_help=True)
replay_app = typer.Typer(help="Republish archived events of a topic, unchanged (same ids).")

REPLAYED_HEADER = ("vocation.replayed", b"true")
"""Marks a record written by `vocation replay` (after the event's own headers)."""


@events_app.command("show")
def show(
    subject: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print each event in full, one per line.")] = False,
    reveal: Annotated[
        bool,
        typer.Option(
            "--reveal",
            help="With --json: print names, emails and phones in clear (logged: who, which subject).",
        ),
    ] = False,
    limit: int = 1000,
) -> None:
    """Print the archived history of an entity (its id is the events' subject), oldest first.

    Personal fields (names, emails, phones, free texts about a person) read `[scellé]` unless
    `--reveal` is given; a reveal is logged with the operator's user name and the subject.
    """
    settings = EventsSettings()

    async def fetch() -> list[dict[str, Any]]:
        async with open_pool(settings) as pool:
            return [
                a.event for a in await PostgresArchive(pool, settings.pseudonymizer()).history(subject, limit)
            ]

    found = run(fetch())
    if not found:
        typer.echo(f"no archived event about {subject!r}", err=True)
        raise typer.Exit(1)
    if as_json and reveal:
        configure_logging(f"{settings.service_name}-cli", "INFO", settings.log_json)
        # Who and what, never the values.
        get_logger(__name__).warning(
            "archive.revealed", operator=getpass.getuser(), subject=subject, events=len(found)
        )
        seal = ArchiveSeal(settings.contact_cipher())
        try:
            found = [seal.opened(event) for event in found]
        except ContactKeyError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
    else:
        found = [ArchiveSeal.masked(event) for event in found]
    for event in found:
        if as_json:
            typer.echo(orjson.dumps(event).decode())
        else:
            typer.echo(f"{event.get('time')}\t{event.get('type')}\t{event.get('id')}\t{event.get('source')}")


def _parse_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO 8601 time: {value!r}") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@replay_app.callback(invoke_without_command=True)
def replay(
    topic: Annotated[str, typer.Option("--topic", help="The entity topic to replay.")],
    since: Annotated[str, typer.Option("--since", help="Event time (ISO 8601; UTC if no offset).")],
    until: Annotated[str | None, typer.Option("--until", help="Up to this event time, excluded.")] = None,
    event_type: Annotated[str | None, typer.Option("--type", help="Only this event type.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, do not publish.")] = False,
) -> None:
    """Republish archived events of a topic, unchanged (same ids: idempotent consumers skip what they have)."""
    if topic not in {str(t) for t in Topic}:
        typer.echo(f"error: unknown topic {topic!r}", err=True)
        raise typer.Exit(2)
    if event_type is not None and event_type not in EVENT_TYPES:
        typer.echo(f"error: unknown event type {event_type!r}", err=True)
        raise typer.Exit(2)
    try:
        count = run(
            replay_slice(
                EventsSettings(),
                topic,
                _parse_time(since),
                _parse_time(until) if until else None,
                event_type,
                dry_run,
            )
        )
    except ContactKeyError as exc:
        typer.echo(f"error: {exc}; events replayed before it stay replayed (idempotent)", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"{'would replay' if dry_run else 'replayed'} {count} events of {topic}")


async def replay_slice(
    settings: EventsSettings,
    topic: str,
    since: datetime,
    until: datetime | None,
    event_type: str | None,
    dry_run: bool = False,
    chunk: int = 500,
) -> int:
    """Republish the archived events of `topic` from `since`, their sealed fields opened; how many.

    Raises `ContactKeyError` (before publishing that event) when one was sealed under a key not
    in `VOCATION_CONTACTS_KEYS`: a replay never publishes sealed values.
    """
    count = 0
    seal = ArchiveSeal(settings.contact_cipher())
    async with open_pool(settings) as pool, open_sink(settings) as sink:
        pending: list[Record] = []
        async for archived in PostgresArchive(pool, settings.pseudonymizer()).slice(
            topic, since, until, event_type
        ):
            event = seal.opened(archived.event)
            pending.append(
                Record(
                    topic,
                    str(event["subject"]).encode(),
                    orjson.dumps(event),
                    [
                        *cloudevent_headers(str(event["type"]), str(event["id"]), str(event["source"])),
                        REPLAYED_HEADER,
                    ],
                )
            )
            if len(pending) >= chunk:
                if not dry_run:
                    await sink.write(pending)
                count += len(pending)
                pending = []
        if pending and not dry_run:
            await sink.write(pending)
        count += len(pending)
    return count


# --- dead letters -----------------------------------------------------------------------------
