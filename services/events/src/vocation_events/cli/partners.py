"""`vocation partners …`: partners, their keys, owned entities and webhook subscriptions."""

from __future__ import annotations

import getpass
from typing import Annotated

import orjson
import typer
from vocation_shared.logs import get_logger

from vocation_events.adapters.postgres import PostgresOwners, PostgresPartners
from vocation_events.adapters.webhooks import AddressGuard, PostgresWebhooks
from vocation_events.cli.common import open_pool, run
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
log = get_logger(__name__)

NewKeyAsJson = Annotated[bool, typer.Option("--json", help="Print the new key as JSON on stdout.")]
"""`--json` of the commands that issue a key to an existing partner."""
EntityKind = Annotated[str, typer.Argument(help=f"The entity's kind: {', '.join(sorted(KINDS))}.")]
EntityId = Annotated[str, typer.Argument(metavar="ID", help="The entity's id.")]


def _check_kind(kind: str) -> None:
    """Exit 2 with the kinds listed when `kind` is not one."""
    if kind not in KINDS:
        typer.echo(f"error: unknown kind {kind!r}; one of: {', '.join(sorted(KINDS))}", err=True)
        raise typer.Exit(2)


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
        async with open_pool(EventsSettings()) as pool:
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

    refused = run(create())
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
        async with open_pool(EventsSettings()) as pool:
            return await PostgresPartners(pool).all()

    for p in run(fetch()):
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
        async with open_pool(EventsSettings()) as pool:
            return await PostgresPartners(pool).revoke(name)

    if not run(revoke()):
        typer.echo(f"error: no active partner named {name!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"partner {name} revoked")


@partners_app.command("rotate-key")
def rotate_key(
    name: str,
    as_json: NewKeyAsJson = False,
) -> None:
    """Give an active partner a new API key (printed once); the old one stops working.

    A revoked partner stays revoked (`partners reactivate` brings it back).
    """
    key = new_api_key()

    async def rotate() -> tuple[bool, Partner | None]:
        async with open_pool(EventsSettings()) as pool:
            partners = PostgresPartners(pool)
            return await partners.rotate(name, hash_api_key(key), key_hint(key)), await partners.by_name(name)

    done, found = run(rotate())
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
    as_json: NewKeyAsJson = False,
) -> None:
    """Bring a revoked partner back, with a new API key (printed once; its old key stays dead)."""
    key = new_api_key()

    async def again() -> tuple[bool, Partner | None]:
        async with open_pool(EventsSettings()) as pool:
            partners = PostgresPartners(pool)
            return await partners.reactivate(name, hash_api_key(key), key_hint(key)), await partners.by_name(
                name
            )

    done, found = run(again())
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
    kind: EntityKind,
    entity_id: EntityId,
    to: Annotated[str, typer.Option("--to", help="The partner that owns it from now on.")],
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit trail).")] = None,
) -> None:
    """Give an entity to another partner (a merger of two systems); logged and audited.

    From then on only that partner may publish about it; its former owner gets 403.
    """
    _check_kind(kind)
    operator = getpass.getuser()

    async def give() -> tuple[Partner | None, str | None]:
        async with open_pool(EventsSettings()) as pool:
            target = await PostgresPartners(pool).by_name(to)
            if target is None or target.revoked_at is not None:
                return None, None
            return target, await PostgresOwners(pool).transfer(kind, entity_id, target, operator, reason)

    target, previous = run(give())
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
    kind: EntityKind,
    entity_id: EntityId,
) -> None:
    """Print who owns an entity, and its audited transfers."""
    _check_kind(kind)

    async def fetch() -> tuple[str | None, list[dict[str, object]]]:
        async with open_pool(EventsSettings()) as pool:
            owners = PostgresOwners(pool)
            transfers = [t for t in await owners.transfers(entity_id) if t["kind"] == kind]
            return await owners.owner_of(kind, entity_id), transfers

    current, transfers = run(fetch())
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
        list[str],
        typer.Option(
            "--type",
            help="An event type to receive (repeat): offers and sites, or applications (to the vacancy's owner only).",
        ),
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
        warning = run(AddressGuard(settings.allowed_networks()).check_url(checked_url))
    except SubscriptionError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if warning is not None:
        typer.echo(f"warning: {warning}", err=True)

    async def create() -> Subscription | None:
        async with open_pool(settings) as pool:
            known = {p.name for p in await PostgresPartners(pool).all() if p.revoked_at is None}
            if name not in known:
                return None
            return await PostgresWebhooks(pool, settings.contact_cipher()).subscribe(
                name, checked_url, checked_types
            )

    subscription = run(create())
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
        async with open_pool(EventsSettings()) as pool:
            return await PostgresWebhooks(pool).listing(name)

    for s in run(fetch()):
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
        async with open_pool(EventsSettings()) as pool:
            return await PostgresWebhooks(pool).unsubscribe(subscription_id)

    if not run(stop()):
        typer.echo(f"error: no active subscription {subscription_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"subscription {subscription_id} stopped")


@partners_app.command("redeliver")
def redeliver(subscription_id: str) -> None:
    """Queue a subscription's failed deliveries again (once the partner's endpoint works again)."""

    async def again() -> int:
        async with open_pool(EventsSettings()) as pool:
            return await PostgresWebhooks(pool).redeliver(subscription_id)

    typer.echo(f"{run(again())} failed deliveries queued again for {subscription_id}")


# --- archive ----------------------------------------------------------------------------------
