"""`make run`: Kafka, PostgreSQL and every installed service as processes on 127.0.0.1, until Ctrl-C."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from vocation_shared.contracts.topics import all_topics
from vocation_shared.links import DEVELOPMENT_LINK_KEY

from vocation_local.kafka import KafkaBroker, create_topics
from vocation_local.paths import DEV_CONTACTS_KEYS, default_run_dir
from vocation_local.pg_admin import database_dsn, ensure_service_databases
from vocation_local.postgres import PostgresServer


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A service of the platform: its package, database and HTTP port."""

    name: str
    module: str
    port: int
    what: str

    def installed(self) -> bool:
        """Whether the service can be started (`python -m <module>` exists)."""
        try:
            return importlib.util.find_spec(f"{self.module}.__main__") is not None
        except ModuleNotFoundError:
            return False


SERVICES = (
    ServiceSpec("events", "vocation_events", 8080, "partner gateway (POST /v1/events), OpenAPI at /docs"),
    ServiceSpec(
        "catalogue", "vocation_catalogue", 8081, "métiers, offers search, immersions, OpenAPI at /docs"
    ),
    ServiceSpec("matching", "vocation_matching", 8082, "health and metrics"),
    ServiceSpec("notifications", "vocation_notifications", 8083, "contacts, consent, delivery"),
)


def _start_infrastructure(
    run_dir: Path, kafka_port: int, postgres_port: int
) -> tuple[KafkaBroker, PostgresServer, bool]:
    broker = KafkaBroker(run_dir / "kafka", kafka_port, kafka_port + 1)
    server = PostgresServer(run_dir / "postgres", postgres_port)
    already = broker.is_running() and server.is_running()
    started = time.monotonic()
    broker.start()
    server.start()
    asyncio.run(_provision(broker, server))
    print(
        f"infrastructure ready in {time.monotonic() - started:.1f} s"
        + (" (already running)" if already else "")
    )
    return broker, server, already


async def _provision(broker: KafkaBroker, server: PostgresServer) -> None:
    await create_topics(broker.bootstrap, all_topics())
    await ensure_service_databases(server.url)


MAILBOX_SMTP_PORT = 1025
MAILBOX_HTTP_PORT = 8025


def _start_mailbox(run_dir: Path, log_dir: Path) -> subprocess.Popen[bytes]:
    log_file = (log_dir / "mailbox.log").open("ab")
    command = [sys.executable, "-m", "vocation_local.mailbox", "--smtp-port", str(MAILBOX_SMTP_PORT)]
    command += ["--http-port", str(MAILBOX_HTTP_PORT), "--dir", str(run_dir / "mailbox")]
    return subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)


def _start_service(
    spec: ServiceSpec, broker: KafkaBroker, server: PostgresServer, log_dir: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "VOCATION_SMTP_HOST": "127.0.0.1",
        "VOCATION_SMTP_PORT": str(MAILBOX_SMTP_PORT),
        "VOCATION_EMAIL_EVENTS_URL": f"http://127.0.0.1:{MAILBOX_HTTP_PORT}",
        "VOCATION_CONTACTS_KEYS": DEV_CONTACTS_KEYS,
        # A partner's test receiver on this machine may get webhooks (never in production).
        "VOCATION_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32,::1/128",
        "VOCATION_SMS_PROVIDER": "sink",
        "VOCATION_SMS_SINK_FILE": str(log_dir.parent / "sms.jsonl"),
        # Matching keeps its state there at a clean stop: the next `make run` starts in a second.
        "VOCATION_SNAPSHOT_DIR": str(log_dir.parent / "matching-snapshot"),
        "VOCATION_PUBLIC_BASE_URL": "http://127.0.0.1:8083",
        "VOCATION_KAFKA_BOOTSTRAP": broker.bootstrap,
        "VOCATION_DATABASE_URL": database_dsn(server.url, spec.name),
        "VOCATION_HTTP_HOST": "127.0.0.1",
        "VOCATION_HTTP_PORT": str(spec.port),
        # `make run` is for development: public default secrets are allowed, and each service says so.
        "VOCATION_DEV_MODE": "true",
        # One link key for the catalogue (reads the links) and notifications (signs them).
        "VOCATION_LINK_KEY": DEVELOPMENT_LINK_KEY,
    }
    if spec.name == "notifications":
        env["VOCATION_SITE_BASE_URL"] = "http://127.0.0.1:8081"  # the catalogue serves `/l/{token}`
    log_file = (log_dir / f"{spec.name}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", spec.module], env=env, stdout=log_file, stderr=subprocess.STDOUT
    )


def run(kafka_port: int = 9092, postgres_port: int = 5432, run_dir: Path | None = None) -> int:
    """Start everything, print where it is, wait for Ctrl-C, stop what was started."""
    run_dir = (run_dir or default_run_dir()).expanduser().resolve()
    broker, server, already = _start_infrastructure(run_dir, kafka_port, postgres_port)
    log_dir = run_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    print(f"  Kafka         {broker.bootstrap}   (log {broker.log_file})")
    print(f"  PostgreSQL    {server.url}   (log {server.log_file})")
    processes: dict[str, subprocess.Popen[bytes]] = {"mailbox": _start_mailbox(run_dir, log_dir)}
    print(
        f"  {'mailbox':<14}http://127.0.0.1:{MAILBOX_HTTP_PORT}  emails sent by the platform (SMTP 127.0.0.1:{MAILBOX_SMTP_PORT})"
    )
    print(f"  {'SMS sink':<14}{run_dir / 'sms.jsonl'}  (one JSON line per SMS)")
    for spec in SERVICES:
        if spec.installed():
            processes[spec.name] = _start_service(spec, broker, server, log_dir)
            print(
                f"  {spec.name:<14}http://127.0.0.1:{spec.port}  {spec.what}   (log {log_dir / spec.name}.log)"
            )
        else:
            print(f"  {spec.name:<14}not built yet: only the infrastructure runs for it")
    print(
        "Development mode (VOCATION_DEV_MODE=true): the services run on public default secrets;"
        ' never like this in production (README, "Before going to production").'
    )
    print("Ctrl-C stops everything.")
    stop = False

    def _on_signal(signum: int, _: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        while not stop:
            for name, process in processes.items():
                if process.poll() is not None:
                    print(f"  {name} exited with code {process.returncode}: see {log_dir / name}.log")
                    processes = {n: p for n, p in processes.items() if n != name}
                    break
            time.sleep(0.5)
    finally:
        print("\nstopping…")
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        if not already:
            broker.stop()
            server.stop()
            print("Kafka and PostgreSQL stopped.")
        else:
            print(
                "Kafka and PostgreSQL were already running before `make run`: left running (make infra-down)."
            )
    return 0
