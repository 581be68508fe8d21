"""`vocation`, the operator CLI of the platform; services add their subcommands by entry point."""

from __future__ import annotations

import asyncio
from importlib.metadata import entry_points
from pathlib import Path

import typer

from vocation_shared.contracts.schemas import write_all
from vocation_shared.contracts.topics import all_topics
from vocation_shared.kafka.admin import create_topics
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
) -> None:
    """Create the registry's topics that are missing on VOCATION_KAFKA_BOOTSTRAP (existing ones are kept).

    Run once before the services, e.g. as the provisioning job of a deployment; running it again
    changes nothing.
    """
    bootstrap = CommonSettings().kafka_bootstrap
    created = asyncio.run(
        create_topics(bootstrap, all_topics(partitions), replication_factor=replication_factor)
    )
    for name in created:
        typer.echo(f"created {name}")
    typer.echo(f"{len(created)} topics created, {len(all_topics(partitions)) - len(created)} already there")


def _load_plugins() -> None:
    for entry_point in entry_points(group=PLUGIN_GROUP):
        app.add_typer(entry_point.load(), name=entry_point.name)


def main() -> None:
    """Run the CLI with every installed service's subcommands."""
    _load_plugins()
    app()


if __name__ == "__main__":
    main()
