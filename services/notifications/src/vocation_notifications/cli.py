"""Operator commands of `vocation notifications` (a `vocation.cli` plugin): digests and contact keys.

`digests send-now`, `contacts new-key`, `contacts reseal`. Also runnable without the plugin:
`python -m vocation_notifications.cli …`.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from vocation_shared.postgres import create_pool

from vocation_notifications.adapters.contact_cipher import new_key_setting
from vocation_notifications.adapters.postgres.unit_of_work import PostgresUnitsOfWork
from vocation_notifications.app import MIGRATIONS
from vocation_notifications.settings import NotificationsSettings

app = typer.Typer(help="The notifications service.", no_args_is_help=True)
digests_app = typer.Typer(help="Daily digests.", no_args_is_help=True)
app.add_typer(digests_app, name="digests")
contacts_app = typer.Typer(help="Contacts sealed at rest (VOCATION_CONTACTS_KEYS).", no_args_is_help=True)
app.add_typer(contacts_app, name="contacts")


async def release_held(database_url: str, candidate_id: str | None = None) -> int:
    """Make the held digest rows due now (all, or one candidate's); the running worker sends them."""
    async with create_pool(database_url, migrations=[("notifications", MIGRATIONS)], max_size=1) as pool:
        status: str = await pool.execute(
            """
            UPDATE outbox SET not_before = now()
            WHERE state = 'held' AND not_before > now() AND ($1::text IS NULL OR recipient_id = $1)
            """,
            candidate_id,
        )
    return int(status.split()[-1])


@digests_app.command("send-now")
def send_now(
    candidate: Annotated[
        str | None, typer.Option("--candidate", help="Only this candidate's digest (its id).")
    ] = None,
) -> None:
    """Send the daily digests now instead of at the digest hour (VOCATION_DIGEST_HOUR).

    The held matches become due; the running service's worker gathers them into one digest per
    person and channel within a poll interval, as it would at the digest hour. Matches withdrawn
    meanwhile (closed offers) are not in it.
    """
    released = asyncio.run(release_held(NotificationsSettings().database_url, candidate))
    typer.echo(f"{released} held matches released to their digests")


async def reseal(settings: NotificationsSettings) -> int:
    """Seal every contact stored in clear or under an older key with the current key."""
    resealed = 0
    after: str | None = ""
    async with create_pool(
        settings.database_url, migrations=[("notifications", MIGRATIONS)], max_size=1
    ) as pool:
        units = PostgresUnitsOfWork(pool, settings.contact_cipher())
        while after is not None:
            # One short transaction per batch: the running service's contact updates wait little.
            async with units() as uow:
                done, after = await uow.contacts.reseal_batch(after)
            resealed += done
    return resealed


@contacts_app.command("new-key")
def new_key(key_id: Annotated[str, typer.Argument(help="The key's id: letters and digits.")] = "k1") -> None:
    """Print a new random key, `id:base64key`, to put first in VOCATION_CONTACTS_KEYS."""
    if not key_id.isalnum():
        raise typer.BadParameter("letters and digits only", param_hint="KEY_ID")
    typer.echo(new_key_setting(key_id))


@contacts_app.command("reseal")
def reseal_command() -> None:
    """Seal the contacts stored in clear, or under an older key, with the first key of VOCATION_CONTACTS_KEYS.

    Run it after setting keys on a database that had contacts in clear, and after a rotation (new
    key first, the old one kept after it until this has run).
    """
    settings = NotificationsSettings()
    if settings.contacts_keys is None:
        typer.echo("VOCATION_CONTACTS_KEYS is not set: nothing to seal with", err=True)
        raise typer.Exit(2)
    typer.echo(f"{asyncio.run(reseal(settings))} contacts sealed with the current key")


if __name__ == "__main__":
    app()
