"""`vocation-infra up|down|status|fetch|run|demo`: real Kafka and PostgreSQL on 127.0.0.1 for development."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from vocation_shared.contracts.topics import all_topics

from vocation_local.kafka import KafkaBroker, KafkaStartError, create_topics
from vocation_local.kafka_dist import KafkaFetchError, fetch_kafka
from vocation_local.paths import default_run_dir
from vocation_local.pg_admin import SERVICE_DATABASES, database_dsn, ensure_service_databases
from vocation_local.postgres import PostgresServer, PostgresStartError


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line, with defaults from VOCATION_* environment variables."""
    parser = argparse.ArgumentParser(
        prog="vocation-infra",
        description="Run a real Kafka broker and PostgreSQL on 127.0.0.1, without containers.",
    )
    parser.add_argument(
        "command",
        choices=("up", "down", "status", "fetch", "run", "demo"),
        help="demo: feed a narrated scenario to a running platform (`demo --help` for its options)",
    )
    kafka_port = _env_int("VOCATION_KAFKA_PORT", 9092)
    parser.add_argument("--kafka-port", type=int, default=kafka_port, help="default 9092")
    parser.add_argument(
        "--controller-port",
        type=int,
        default=_env_int("VOCATION_KAFKA_CONTROLLER_PORT", 0),
        help="KRaft controller port (default: the Kafka port + 1)",
    )
    parser.add_argument("--postgres-port", type=int, default=_env_int("VOCATION_POSTGRES_PORT", 5432))
    parser.add_argument("--run-dir", type=Path, default=None, help="default ~/.cache/vocation/run")
    parser.add_argument(
        "--partitions", type=int, default=None, help="partitions of entity topics (default 6)"
    )
    parser.add_argument("--json", action="store_true", help="print the addresses as JSON")
    return parser.parse_args(argv)


def _services(args: argparse.Namespace) -> tuple[KafkaBroker, PostgresServer]:
    run_dir = (args.run_dir or default_run_dir()).expanduser().resolve()
    controller_port = args.controller_port or args.kafka_port + 1
    broker = KafkaBroker(run_dir / "kafka", args.kafka_port, controller_port)
    ports = broker.configured_ports()
    if broker.is_running() and ports is not None:
        broker.port, broker.controller_port = ports
    server = PostgresServer(run_dir / "postgres", args.postgres_port)
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `vocation-infra` and `python -m vocation_local`."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["demo"]:
        from vocation_local.demo import main as demo

        return demo(arguments[1:])
    args = parse_args(arguments)
    try:
        if args.command == "fetch":
            print(fetch_kafka())
            return 0
        if args.command == "run":
            from vocation_local.platform import run

            return run(args.kafka_port, args.postgres_port, args.run_dir)
        broker, server = _services(args)
        if args.command == "up":
            broker.start()
            server.start()
            asyncio.run(_provision(broker, server, args.partitions))
        elif args.command == "down":
            broker.stop()
            server.stop()
        _print(_addresses(broker, server), args.json)
        if args.command == "status":
            return 0 if broker.is_running() and server.is_running() else 1
        return 0
    except (KafkaFetchError, KafkaStartError, PostgresStartError) as exc:
        print(f"vocation-infra {args.command}: {exc}", file=sys.stderr)
        return 1
