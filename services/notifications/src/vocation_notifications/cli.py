"""Operator commands: `vocation notifications digests send-now` (registered as a `vocation.cli` plugin).

Also runnable without the plugin: `python -m vocation_notifications.cli digests send-now`.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from vocation_shared.postgres import create_pool

from vocation_notifications.app import MIGRATIONS
from vocation_notifications.settings import NotificationsSettings

app = typer.Typer(help="The notifications service.", no_args_is_help=True)
digests_app = typer.Typer(help="Daily digests.", no_args_is_help=True)
app.add_typer(digests_app, name="digests")


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


if __name__ == "__main__":
    app()
