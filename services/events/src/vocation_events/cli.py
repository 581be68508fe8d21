"""Operator commands: `vocation partners|events|replay|dlq …` (registered as `vocation.cli` plugins)."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import asyncpg
import orjson
import typer
from pydantic_settings import BaseSettings, SettingsConfigDict
from vocation_shared.contracts.events import EVENT_TYPES
from vocation_shared.contracts.topics import Topic
from vocation_shared.kafka.headers import cloudevent_headers
from vocation_shared.logs import configure_logging, get_logger
from vocation_shared.postgres import create_pool
from vocation_shared.sealing import ContactKeyError

from vocation_events.adapters import dead_letters
from vocation_events.adapters.archive_store import PostgresArchive, pseudonymize_erasures
from vocation_events.adapters.kafka import KafkaSink, ProducerFactory
from vocation_events.adapters.postgres import PostgresOwners, PostgresPartners
from vocation_events.adapters.unit_of_work import PostgresUnitsOfWork
from vocation_events.adapters.webhooks import AddressGuard, PostgresWebhooks
from vocation_events.app import MIGRATIONS
from vocation_events.core.archive_sealing import ArchiveSeal
from vocation_events.core.dead_letters import Redrive
from vocation_events.core.ingestion import Record
from vocation_events.core.ownership import KINDS
from vocation_events.core.partners import (
    Partner,
    ReservedSource,
    UnknownEventType,
    check_allowed_types,
    check_source,
    hash_api_key,
    key_hint,
    new_api_key,
)
from vocation_events.core.webhooks import Subscription, SubscriptionError, check_subscription
from vocation_events.settings import EventsSettings

partners_app = typer.Typer(help="Partners allowed to publish through the gateway.", no_args_is_help=True)
events_app = typer.Typer(help="The event archive.", no_args_is_help=True)
replay_app = typer.Typer(help="Republish archived events of a topic, unchanged (same ids).")
dlq_app = typer.Typer(help="Dead letters: inspect and re-drive.", no_args_is_help=True)

T = TypeVar("T")
REPLAYED_HEADER = ("vocation.replayed", b"true")
"""Marks a record written by `vocation replay` (after the event's own headers)."""
log = get_logger(__name__)


def _run(coro: Awaitable[T]) -> T:
    async def wrapper() -> T:
        return await coro

    return asyncio.run(wrapper())


class _LibpqDefaults(BaseSettings):
    """libpq's `PGHOST` and `PGPORT`, which asyncpg uses where a DSN names no host or port."""

    model_config = SettingsConfigDict(env_prefix="PG", extra="ignore", env_file=None)

    host: str = "localhost"
    port: int = 5432


def describe_database(dsn: str) -> str:
    """Where a DSN points, as `host:port/dbname` (never its user's password)."""
    parts = urlsplit(dsn)
    query = parse_qs(parts.query)
    libpq = _LibpqDefaults()
    host = parts.hostname or query.get("host", [libpq.host])[0]
    port = parts.port or int(query.get("port", [str(libpq.port)])[0])
    name = parts.path.lstrip("/") or query.get("dbname", [parts.username or "postgres"])[0]
    return f"{host}:{port}/{name}"


@asynccontextmanager
async def _pool(settings: EventsSettings) -> AsyncIterator[asyncpg.Pool]:
    """The events database (`VOCATION_DATABASE_URL`, else the service's default), said on stderr."""
    typer.echo(f"events database: {describe_database(settings.database_url)}", err=True)
    async with create_pool(settings.database_url, migrations=[("events", MIGRATIONS)], max_size=2) as pool:
        await pseudonymize_erasures(pool, settings.pseudonymizer())
        yield pool


@asynccontextmanager
async def _sink(settings: EventsSettings) -> AsyncIterator[KafkaSink]:
    sink = KafkaSink(
        ProducerFactory(settings.kafka_bootstrap, "events-cli", settings.producer_max_batch_bytes, 5),
        settings.publish_timeout_s,
    )
    try:
        yield sink
    finally:
        await sink.stop()


# --- partners ---------------------------------------------------------------------------------


@partners_app.command("create")
def create_partner(
    name: str,
    source: Annotated[str, typer.Option("--source", help="The CloudEvents `source` the partner must use.")],
    allow: Annotated[
        list[str], typer.Option("--allow", help="An event type it may publish (repeat; '*' for all).")
    ],
    rate: Annotated[float | None, typer.Option(help="Events per second (default: the service's).")] = None,
    burst: Annotated[float | None, typer.Option(help="Bucket size (default: the service's).")] = None,
    rome_v3: Annotated[bool, typer.Option("--rome-v3", help="It sends ROME v3 codes: convert them.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help='Print {"name", "source", "key"} as JSON on stdout, for scripts.')
    ] = False,
    share_source: Annotated[
        bool,
        typer.Option(
            "--share-source",
            help="Allow a source another partner already uses (both then own the same entities).",
        ),
    ] = False,
) -> None:
    """Add a partner and print its API key (shown once; only its hash is stored).

    `*` allows every type partners may publish; internal facts of the platform (matches, bookings,
    notifications…) are refused. Entities are owned by source: a source another partner uses is
    refused unless `--share-source` says that both are one system (two keys of one partner).
    """
    types = [t for item in allow for t in item.replace(",", " ").split()]
    try:
        allowed = check_allowed_types(types)
        check_source(source)
    except (UnknownEventType, ReservedSource) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    key = new_api_key()
    partner = Partner(name, source, allowed, rate, burst, rome_v3, key_hint=key_hint(key))

    async def create() -> str | None:
        async with _pool(EventsSettings()) as pool:
            partners = PostgresPartners(pool)
            users = [p.name for p in await partners.all() if p.source == source and p.name != name]
            if users and not share_source:
                return (
                    f"the source {source!r} is already the partner {users[0]!r}'s: a partner owns the "
                    "entities of its source, so both would own each other's; give this partner its own "
                    "source, or --share-source if both are one system"
                )
            if not await partners.create(partner, hash_api_key(key)):
                return f"a partner named {name!r} exists already"
            return None

    refused = _run(create())
    if refused is not None:
        typer.echo(f"error: {refused}", err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(orjson.dumps({"name": name, "source": source, "key": key}).decode())
        return
    typer.echo(f"partner {name} created; its API key (shown once):")
    typer.echo(key)


@partners_app.command("list")
def list_partners() -> None:
    """Print every partner with its source, allowed types and state."""

    async def fetch() -> list[Partner]:
        async with _pool(EventsSettings()) as pool:
            return await PostgresPartners(pool).all()

    for p in _run(fetch()):
        state = f"revoked {p.revoked_at:%Y-%m-%d %H:%M}" if p.revoked_at else "active"
        rate = f" rate={p.rate_per_s:g}/s" if p.rate_per_s else ""
        v3 = " rome-v3" if p.rome_v3 else ""
        typer.echo(
            f"{p.name}\t{state}\tkey={p.key_hint}\tsource={p.source}{rate}{v3}\t"
            f"allow={','.join(sorted(p.allowed_types))}"
        )


@partners_app.command("revoke")
def revoke_partner(name: str) -> None:
    """Revoke a partner's key (within the gateway's cache delay, a few seconds)."""

    async def revoke() -> bool:
        async with _pool(EventsSettings()) as pool:
            return await PostgresPartners(pool).revoke(name)

    if not _run(revoke()):
        typer.echo(f"error: no active partner named {name!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"partner {name} revoked")


@partners_app.command("rotate-key")
def rotate_key(
    name: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print the new key as JSON on stdout.")] = False,
) -> None:
    """Give an active partner a new API key (printed once); the old one stops working.

    A revoked partner stays revoked (`partners reactivate` brings it back).
    """
    key = new_api_key()

    async def rotate() -> tuple[bool, Partner | None]:
        async with _pool(EventsSettings()) as pool:
            partners = PostgresPartners(pool)
            return await partners.rotate(name, hash_api_key(key), key_hint(key)), await partners.by_name(name)

    done, found = _run(rotate())
    if not done:
        if found is not None:
            typer.echo(
                f"error: partner {name!r} is revoked; `vocation partners reactivate {name}` first", err=True
            )
        else:
            typer.echo(f"error: no partner named {name!r}", err=True)
        raise typer.Exit(1)
    _print_key(name, found.source if found else "", key, as_json, "new API key")


@partners_app.command("reactivate")
def reactivate(
    name: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print the new key as JSON on stdout.")] = False,
) -> None:
    """Bring a revoked partner back, with a new API key (printed once; its old key stays dead)."""
    key = new_api_key()

    async def again() -> tuple[bool, Partner | None]:
        async with _pool(EventsSettings()) as pool:
            partners = PostgresPartners(pool)
            return await partners.reactivate(name, hash_api_key(key), key_hint(key)), await partners.by_name(
                name
            )

    done, found = _run(again())
    if not done:
        why = "is not revoked" if found is not None else "does not exist"
        typer.echo(f"error: partner {name!r} {why}", err=True)
        raise typer.Exit(1)
    log.info("partners.reactivated", partner=name, operator=getpass.getuser())
    _print_key(name, found.source if found else "", key, as_json, "reactivated; its new API key")


def _print_key(name: str, source: str, key: str, as_json: bool, what: str) -> None:
    if as_json:
        typer.echo(orjson.dumps({"name": name, "source": source, "key": key}).decode())
        return
    typer.echo(f"partner {name}: {what} (shown once):")
    typer.echo(key)


@partners_app.command("transfer")
def transfer(
    kind: Annotated[str, typer.Argument(help=f"The entity's kind: {', '.join(sorted(KINDS))}.")],
    entity_id: Annotated[str, typer.Argument(metavar="ID", help="The entity's id.")],
    to: Annotated[str, typer.Option("--to", help="The partner that owns it from now on.")],
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit trail).")] = None,
) -> None:
    """Give an entity to another partner (a merger of two systems); logged and audited.

    From then on only that partner may publish about it; its former owner gets 403.
    """
    if kind not in KINDS:
        typer.echo(f"error: unknown kind {kind!r}; one of: {', '.join(sorted(KINDS))}", err=True)
        raise typer.Exit(2)
    operator = getpass.getuser()

    async def give() -> tuple[Partner | None, str | None]:
        async with _pool(EventsSettings()) as pool:
            target = await PostgresPartners(pool).by_name(to)
            if target is None or target.revoked_at is not None:
                return None, None
            return target, await PostgresOwners(pool).transfer(kind, entity_id, target, operator, reason)

    target, previous = _run(give())
    if target is None:
        typer.echo(f"error: no active partner named {to!r}", err=True)
        raise typer.Exit(1)
    log.info(
        "ownership.transferred",
        kind=kind,
        entity_id=entity_id,
        from_owner=previous,
        to_owner=target.source,
        to_partner=target.name,
        operator=operator,
    )
    typer.echo(f"{kind} {entity_id}: owner {previous or '(none)'} -> {target.source} ({target.name})")


@partners_app.command("owner")
def owner(
    kind: Annotated[str, typer.Argument(help=f"The entity's kind: {', '.join(sorted(KINDS))}.")],
    entity_id: Annotated[str, typer.Argument(metavar="ID")],
) -> None:
    """Print who owns an entity, and its audited transfers."""
    if kind not in KINDS:
        typer.echo(f"error: unknown kind {kind!r}; one of: {', '.join(sorted(KINDS))}", err=True)
        raise typer.Exit(2)

    async def fetch() -> tuple[str | None, list[dict[str, object]]]:
        async with _pool(EventsSettings()) as pool:
            owners = PostgresOwners(pool)
            transfers = [t for t in await owners.transfers(entity_id) if t["kind"] == kind]
            return await owners.owner_of(kind, entity_id), transfers

    current, transfers = _run(fetch())
    typer.echo(f"{kind} {entity_id}\towner={current or '(none)'}")
    for t in transfers:
        typer.echo(
            f"{t['transferred_at']:%Y-%m-%dT%H:%M:%SZ}\ttransferred {t['from_owner'] or '(none)'} -> "
            f"{t['to_owner']} ({t['to_partner']})\tby {t['operator']}\t{t['reason'] or ''}"
        )


# --- webhooks ---------------------------------------------------------------------------------


@partners_app.command("subscribe")
def subscribe(
    name: str,
    url: Annotated[str, typer.Option("--url", help="Where to POST the events (https).")],
    types: Annotated[
        list[str], typer.Option("--type", help="An event type to receive (repeat); offers and sites only.")
    ],
) -> None:
    """Send a partner the events of these types by webhook; prints the signing secret (shown once)."""
    try:
        checked_url, checked_types = check_subscription(
            url, [t for item in types for t in item.replace(",", " ").split()]
        )
    except SubscriptionError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    settings = EventsSettings()
    try:
        # The sender checks again at each delivery (a name may resolve elsewhere later).
        warning = _run(AddressGuard(settings.allowed_networks()).check_url(checked_url))
    except SubscriptionError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if warning is not None:
        typer.echo(f"warning: {warning}", err=True)

    async def create() -> Subscription | None:
        async with _pool(settings) as pool:
            known = {p.name for p in await PostgresPartners(pool).all() if p.revoked_at is None}
            if name not in known:
                return None
            return await PostgresWebhooks(pool, settings.contact_cipher()).subscribe(
                name, checked_url, checked_types
            )

    subscription = _run(create())
    if subscription is None:
        typer.echo(f"error: no active partner named {name!r}", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"subscription {subscription.id} of {name}: {', '.join(sorted(checked_types))} to {checked_url}"
    )
    typer.echo("its signing secret (shown once; check `webhook-signature` with it, Standard Webhooks v1):")
    typer.echo(subscription.secret)


@partners_app.command("subscriptions")
def subscriptions(name: Annotated[str | None, typer.Argument(help="Only this partner's.")] = None) -> None:
    """Print every webhook subscription with its deliveries pending, delivered and failed."""

    async def fetch() -> list[dict[str, object]]:
        async with _pool(EventsSettings()) as pool:
            return await PostgresWebhooks(pool).listing(name)

    for s in _run(fetch()):
        state = "stopped" if s["revoked_at"] else "active"
        error = f"\tlast error: {s['last_error']}" if s["last_error"] else ""
        typer.echo(
            f"{s['id']}\t{s['partner']}\t{state}\t{s['url']}\ttypes={','.join(s['types'])}\t"  # type: ignore[arg-type]
            f"pending={s['pending']} delivered={s['delivered']} failed={s['failed']}{error}"
        )


@partners_app.command("unsubscribe")
def unsubscribe(subscription_id: str) -> None:
    """Stop a webhook subscription: nothing more is sent, pending deliveries included."""

    async def stop() -> bool:
        async with _pool(EventsSettings()) as pool:
            return await PostgresWebhooks(pool).unsubscribe(subscription_id)

    if not _run(stop()):
        typer.echo(f"error: no active subscription {subscription_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"subscription {subscription_id} stopped")


@partners_app.command("redeliver")
def redeliver(subscription_id: str) -> None:
    """Queue a subscription's failed deliveries again (once the partner's endpoint works again)."""

    async def again() -> int:
        async with _pool(EventsSettings()) as pool:
            return await PostgresWebhooks(pool).redeliver(subscription_id)

    typer.echo(f"{_run(again())} failed deliveries queued again for {subscription_id}")


# --- archive ----------------------------------------------------------------------------------


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
        async with _pool(settings) as pool:
            return [
                a.event for a in await PostgresArchive(pool, settings.pseudonymizer()).history(subject, limit)
            ]

    found = _run(fetch())
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
        count = _run(
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
    async with _pool(settings) as pool, _sink(settings) as sink:
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


@dlq_app.command("list")
def dlq_list(topic: str) -> None:
    """Print the dead letters of a topic: where, when, why (values are not printed: personal data)."""
    letters = _run(dead_letters.list_dead_letters(EventsSettings().kafka_bootstrap, topic))
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
        async with _pool(settings) as pool, _sink(settings) as sink:
            return await dead_letters.redrive(
                settings.kafka_bootstrap,
                topic,
                sink,
                reason,
                dry_run,
                units=PostgresUnitsOfWork(pool, settings.pseudonymizer()),
            )

    done = _run(go())
    tombstones = sum(d.tombstone for d in done.redriven)
    typer.echo(
        f"{'would re-drive' if dry_run else 're-drove'} {len(done.redriven)} dead letters of {topic} "
        f"({tombstones} tombstones); {'would skip' if dry_run else 'skipped'} {len(done.erased)} "
        "about erased candidates"
    )
