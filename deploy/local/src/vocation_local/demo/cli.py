"""`vocation-infra demo`'s command line; every option has a `VOCATION_DEMO_*` environment default."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from vocation_local.demo.runner import DemoOptions, run_demo
from vocation_local.entry import exit_code
from vocation_local.paths import default_run_dir
from vocation_local.settings import DemoSettings, LocalSettings

app = typer.Typer(
    add_completion=False,
    help="Feed a realistic scenario through the gateway of a running platform (make run).",
)


@app.command()
def demo(
    fast: Annotated[bool, typer.Option("--fast", help="no pauses between the steps")] = False,
    pause: Annotated[float | None, typer.Option(help="seconds between steps (default 4)")] = None,
    events_url: Annotated[str | None, typer.Option(help="default http://127.0.0.1:8080")] = None,
    catalogue_url: Annotated[str | None, typer.Option(help="default http://127.0.0.1:8081")] = None,
    mailbox_url: Annotated[str | None, typer.Option(help="default http://127.0.0.1:8025")] = None,
    sms_file: Annotated[Path | None, typer.Option(help="default <run dir>/sms.jsonl")] = None,
    events_database_url: Annotated[
        str | None,
        typer.Option(help="the gateway's database, to create the demo partner with the operator CLI"),
    ] = None,
    notifications_database_url: Annotated[
        str | None,
        typer.Option(help="the notifications service's database, to send Thomas's digest now"),
    ] = None,
    no_digest_now: Annotated[
        bool,
        typer.Option(
            "--no-digest-now",
            help="leave Thomas's digest for the digest hour instead of sending it at the end",
        ),
    ] = False,
    partner: Annotated[str | None, typer.Option(help="default demo-ain-landes")] = None,
    api_key: Annotated[str | None, typer.Option(help="use this partner key")] = None,
    state_dir: Annotated[
        Path | None, typer.Option(help="where the partner's key and the last run's ids are kept")
    ] = None,
    wait: Annotated[float, typer.Option(help="seconds to wait for the e-mails and SMS at the end")] = 30.0,
    check: Annotated[
        bool, typer.Option("--check", help="exit with 1 unless every expected e-mail and SMS arrived")
    ] = False,
) -> None:
    """Feed a realistic scenario through the gateway of a running platform (make run)."""
    settings, postgres_port = DemoSettings(), LocalSettings().postgres_port
    run_dir = default_run_dir()
    postgres = f"postgresql://postgres@127.0.0.1:{postgres_port}"
    options = DemoOptions(
        pause_s=0.0 if fast else (settings.pause if pause is None else pause),
        events_url=events_url or settings.events_url,
        catalogue_url=catalogue_url or settings.catalogue_url,
        mailbox_url=mailbox_url or settings.mailbox_url,
        sms_file=sms_file or settings.sms_file or run_dir / "sms.jsonl",
        events_database_url=events_database_url or settings.events_database_url or f"{postgres}/events",
        notifications_database_url=(
            notifications_database_url or settings.notifications_database_url or f"{postgres}/notifications"
        ),
        digest_now=not no_digest_now,
        partner=partner or settings.partner,
        api_key=api_key or settings.api_key,
        state_dir=state_dir or settings.state_dir or run_dir,
        wait_s=wait,
        check=check,
    )
    raise typer.Exit(run_demo(options))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m vocation_local demo`: the demo's exit code."""
    return exit_code(app, argv, "vocation-infra demo")


__all__ = ["app", "main"]
