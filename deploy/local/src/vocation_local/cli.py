"""`vocation-infra up|down|status|fetch|run|demo`: real Kafka and PostgreSQL on 127.0.0.1 for development."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import typer
from vocation_shared.contracts.topics import all_topics

from vocation_local.demo.cli import demo
from vocation_local.entry import exit_code
from vocation_local.kafka import KafkaBroker, KafkaStartError, create_topics
from vocation_local.kafka_dist import KafkaFetchError, fetch_kafka
from vocation_local.paths import default_run_dir
from vocation_local.pg_admin import SERVICE_DATABASES, database_dsn, ensure_service_databases
from vocation_local.postgres import PostgresServer, PostgresStartError
from vocation_local.settings import LocalSettings

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Run a real Kafka broker and PostgreSQL on 127.0.0.1, without containers.",
)
app.command("demo", help="Feed a narrated scenario to a running platform (`demo --help` for its options).")(
    demo
)

KafkaPort = Annotated[int | None, typer.Option(help="default 9092 (VOCATION_KAFKA_PORT)")]
ControllerPort = Annotated[
    int | None, typer.Option(help="KRaft controller port (default: the Kafka port + 1)")
]
PostgresPort = Annotated[int | None, typer.Option(help="default 5432 (VOCATION_POSTGRES_PORT)")]
RunDir = Annotated[Path | None, typer.Option(help="default ~/.cache/vocation/run")]
Partitions = Annotated[int | None, typer.Option(help="partitions of entity topics (default 6)")]
AsJson = Annotated[bool, typer.Option("--json", help="print the addresses as JSON")]


def _services(
    kafka_port: int | None, controller_port: int | None, postgres_port: int | None, run_dir: Path | None
) -> tuple[KafkaBroker, PostgresServer]:
    settings = LocalSettings()
    kafka = kafka_port or settings.kafka_port
    folder = (run_dir or default_run_dir()).expanduser().resolve()
    broker = KafkaBroker(
        folder / "kafka", kafka, controller_port or settings.kafka_controller_port or kafka + 1
    )
    ports = broker.configured_ports()
    if broker.is_running() and ports is not None:
        broker.port, broker.controller_port = ports
    server = PostgresServer(folder / "postgres", postgres_port or settings.postgres_port)
    server.port = server.running_port() or server.port
    return broker, server


def _addresses(broker: KafkaBroker, server: PostgresServer) -> dict[str, object]:
    return {
        "kafka_bootstrap": broker.bootstrap,
        "kafka_running": broker.is_running(),
        "kafka_log": str(broker.log_file),
        "postgres_url": server.url,
        "postgres_running": server.is_running(),
        "postgres_log": str(server.log_file),
        "databases": {name: database_dsn(server.url, name) for name in SERVICE_DATABASES},
    }


def _print(addresses: dict[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(addresses, indent=2))
        return
    for key, value in addresses.items():
        if isinstance(value, dict):
            for name, dsn in value.items():
                print(f"{'database ' + name:<24} {dsn}")
        else:
            print(f"{key:<24} {value}")


async def _provision(broker: KafkaBroker, server: PostgresServer, partitions: int | None) -> None:
    await create_topics(broker.bootstrap, all_topics(partitions))
    await ensure_service_databases(server.url)


def _fail(command: str, exc: Exception) -> typer.Exit:
    typer.echo(f"vocation-infra {command}: {exc}", err=True)
    return typer.Exit(1)


def _up(broker: KafkaBroker, server: PostgresServer, partitions: int | None) -> bool:
    broker.start()
    server.start()
    asyncio.run(_provision(broker, server, partitions))
    return True


def _down(broker: KafkaBroker, server: PostgresServer, _: int | None) -> bool:
    broker.stop()
    server.stop()
    return True


def _status(broker: KafkaBroker, server: PostgresServer, _: int | None) -> bool:
    return broker.is_running() and server.is_running()


def _infrastructure_command(
    name: str, action: Callable[[KafkaBroker, PostgresServer, int | None], bool], summary: str
) -> None:
    """Register `name`: act on the run dir's Kafka and PostgreSQL, print their addresses, exit 1 unless fine."""

    def command(
        kafka_port: KafkaPort = None,
        controller_port: ControllerPort = None,
        postgres_port: PostgresPort = None,
        run_dir: RunDir = None,
        partitions: Partitions = None,
        as_json: AsJson = False,
    ) -> None:
        broker, server = _services(kafka_port, controller_port, postgres_port, run_dir)
        try:
            fine = action(broker, server, partitions)
        except (KafkaStartError, PostgresStartError) as exc:
            raise _fail(name, exc) from exc
        _print(_addresses(broker, server), as_json)
        if not fine:
            raise typer.Exit(1)

    app.command(name, help=summary)(command)


_infrastructure_command(
    "up", _up, "Start Kafka and PostgreSQL, create the topics and the services' databases."
)
_infrastructure_command("down", _down, "Stop the Kafka and PostgreSQL started by `up`.")
_infrastructure_command(
    "status", _status, "Tell where Kafka and PostgreSQL are and whether they run (exit 1 unless both do)."
)


@app.command()
def fetch() -> None:
    """Download Kafka into the cache (once) and print where it is."""
    try:
        typer.echo(fetch_kafka())
    except KafkaFetchError as exc:
        raise _fail("fetch", exc) from exc


@app.command()
def run(kafka_port: KafkaPort = None, postgres_port: PostgresPort = None, run_dir: RunDir = None) -> None:
    """Run the platform: Kafka, PostgreSQL, the mailbox and every service; Ctrl-C stops everything."""
    from vocation_local.platform import run as run_platform

    settings = LocalSettings()
    try:
        code = run_platform(
            kafka_port or settings.kafka_port, postgres_port or settings.postgres_port, run_dir
        )
    except (KafkaStartError, PostgresStartError) as exc:
        raise _fail("run", exc) from exc
    raise typer.Exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `vocation-infra` and `python -m vocation_local`: the exit code."""
    return exit_code(app, argv, "vocation-infra")
