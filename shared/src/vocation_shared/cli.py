"""`vocation`, the operator CLI of the platform; services add their subcommands by entry point."""

from __future__ import annotations

import asyncio
from importlib.metadata import entry_points
from pathlib import Path

import typer

from vocation_shared.contracts.schemas import write_all
from vocation_shared.contracts.topics import all_topics
from vocation_shared.kafka.admin import TopicsReport, ensure_topics
from vocation_shared.settings import CommonSettings

PLUGIN_GROUP = "vocation.cli"
DEFAULT_CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"

app = typer.Typer(help="Vocation operator CLI.", no_args_is_help=True)
contracts = typer.Typer(help="Event contracts: JSON Schemas and AsyncAPI.", no_args_is_help=True)
topics = typer.Typer(help="The topic registry.", no_args_is_help=True)
app.add_typer(contracts, name="contracts")
app.add_typer(topics, name="topics")


@contracts.command("generate")
def generate_contracts(out: Path = DEFAULT_CONTRACTS_DIR) -> None:
    """Write the JSON Schemas and the AsyncAPI document generated from the models."""
    for path in write_all(out):
        typer.echo(path)


@topics.command("list")
def list_topics() -> None:
    """Print every topic with its partitions and cleanup policy."""
    for spec in all_topics():
        typer.echo(f"{spec.name:28} partitions={spec.partitions:<3} cleanup={spec.cleanup}")


@topics.command("create")
def create_missing_topics(
    partitions: int | None = typer.Option(
        None, min=1, help="Partitions of each entity topic (default: the registry's, 6)."
    ),
    replication_factor: int = typer.Option(
        1, min=1, help="Replicas of each partition (3 on a real cluster)."
    ),
    check: bool = typer.Option(
        False, "--check", help="Only report what differs from the registry; exit 1 if anything does."
    ),
) -> None:
    """Create the registry's missing topics on VOCATION_KAFKA_BOOTSTRAP and set the registry's
    configuration on the existing ones, printing every setting that differed.

    Run before the services, e.g. as the provisioning job of a deployment, and after an upgrade
    (a new retention or compaction setting reaches the existing topics); running it again changes
    nothing. Partition counts are reported, never changed (more partitions would move keys).
    """
    bootstrap = CommonSettings().kafka_bootstrap
    specs = all_topics(partitions)
    report = asyncio.run(
        ensure_topics(bootstrap, specs, replication_factor=replication_factor, check_only=check)
    )
    _print_report(report, len(specs), check)
    if check and not report.in_line:
        raise typer.Exit(1)


def _print_report(report: TopicsReport, total: int, check: bool) -> None:
    for name in report.missing if check else ():
        typer.echo(f"missing {name}")
    for drift in report.drift:
        typer.echo(f"{'drift' if check else 'changed'} {drift}")
    for differs in report.partitions:
        typer.echo(f"note {differs}")
    for name in report.created:
        typer.echo(f"created {name}")
    topics = len({d.topic for d in report.drift})
    if check:
        verdict = "in line with the registry" if report.in_line else "run without --check to fix"
        typer.echo(
            f"{len(report.missing)} topics missing, {len(report.drift)} settings off the registry "
            f"on {topics} topics: {verdict}"
        )
        return
    typer.echo(f"{len(report.drift)} settings changed on {topics} topics")
    typer.echo(f"{len(report.created)} topics created, {total - len(report.created)} already there")


def _load_plugins() -> None:
    for entry_point in entry_points(group=PLUGIN_GROUP):
        app.add_typer(entry_point.load(), name=entry_point.name)


def main() -> None:
    """Run the CLI with every installed service's subcommands."""
    _load_plugins()
    app()


if __name__ == "__main__":
    main()
