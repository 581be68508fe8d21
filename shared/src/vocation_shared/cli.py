"""`vocation`, the operator CLI of the platform; services add their subcommands by entry point."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import typer

from vocation_shared.contracts.schemas import write_all
from vocation_shared.contracts.topics import all_topics

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


def _load_plugins() -> None:
    for entry_point in entry_points(group=PLUGIN_GROUP):
        app.add_typer(entry_point.load(), name=entry_point.name)


def main() -> None:
    """Run the CLI with every installed service's subcommands."""
    _load_plugins()
    app()


if __name__ == "__main__":
    main()
