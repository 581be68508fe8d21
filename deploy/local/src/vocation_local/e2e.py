"""The whole platform as separate processes on free ports, for end-to-end tests (a pytest fixture)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from vocation_local.inbox import mailbox_messages, sink_sms
from vocation_local.paths import DEV_CONTACTS_KEYS, free_port, port_accepts

SERVICE_MODULES = {
    "events": "vocation_events",
    "catalogue": "vocation_catalogue",
    "matching": "vocation_matching",
    "notifications": "vocation_notifications",
}


@dataclass
class Platform:
    """Where each process of a running platform listens, and how to reach its logs."""

    kafka_bootstrap: str
    databases: dict[str, str]
    urls: dict[str, str]
    mailbox_url: str
    smtp_port: int
    log_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    environments: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def sms_file(self) -> Path:
        """Where the SMS sink appends every SMS (JSON lines)."""
        return self.log_dir / "sms.jsonl"

    def log(self, name: str) -> str:
        """The log of one process, for assertion messages."""
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self, name: str, kill: bool = False) -> None:
        """Stop one process (SIGKILL with `kill`)."""
        process = self.processes[name]
        if kill:
            process.kill()
        else:
            process.terminate()
        process.wait(timeout=30)

    def start(self, name: str) -> None:
        """(Re)start one service with the environment it had."""
        log_file = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", SERVICE_MODULES[name]],
            env=self.environments[name],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )

    def service_environment(self, name: str, **extra: str) -> dict[str, str]:
        """The environment of one service on this platform (loopback SMTP and its log, SMS sink), plus `extra`."""
        return {
            **os.environ,
            "VOCATION_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "VOCATION_DATABASE_URL": self.databases[name],
            "VOCATION_HTTP_HOST": "127.0.0.1",
            "VOCATION_HTTP_PORT": self.urls[name].rsplit(":", 1)[1],
            "VOCATION_SMTP_HOST": "127.0.0.1",
            "VOCATION_SMTP_PORT": str(self.smtp_port),
            # The mailbox keeps Brevo's activity log too: after a crash, an email is looked up, not re-sent.
            "VOCATION_EMAIL_EVENTS_URL": self.mailbox_url,
            "VOCATION_CONTACTS_KEYS": DEV_CONTACTS_KEYS,
            # A partner's test receiver on this machine may get webhooks (never in production).
            "VOCATION_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32,::1/128",
            "VOCATION_SMS_PROVIDER": "sink",
            "VOCATION_SMS_SINK_FILE": str(self.sms_file),
            "VOCATION_PUBLIC_BASE_URL": self.urls["notifications"],
            **self._links_environment(),
            "VOCATION_LOG_JSON": "true",
            # Test platforms run on the public development secrets (each service logs it at start);
            # a test of the refusal passes VOCATION_DEV_MODE=false in `extra`.
            "VOCATION_DEV_MODE": "true",
            **extra,
        }

    def _links_environment(self) -> dict[str, str]:
        """People open the links of their messages on the catalogue's pages (`/l/{token}`); an
        expired link's page offers a fresh one from notifications (when this platform has both)."""
        if "catalogue" not in self.urls or "notifications" not in self.urls:
            return {}
        return {
            "VOCATION_SITE_BASE_URL": self.urls["catalogue"],
            "VOCATION_LINKS_RENEWAL_URL": f"{self.urls['notifications']}/liens/nouveau",
        }

    def start_mailbox(self, http_port: int, folder: Path | None = None) -> None:
        """Start the development mailbox on this platform's SMTP port (`folder`: keep .eml files)."""
        command = [
            sys.executable,
            "-m",
            "vocation_local.mailbox",
            "--smtp-port",
            str(self.smtp_port),
            "--http-port",
            str(http_port),
        ]
        if folder is not None:
            command += ["--dir", str(folder)]
        log = (self.log_dir / "mailbox.log").open("ab")
        self.processes["mailbox"] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def shutdown(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL after 20 s)."""
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def wait_ready(self, name: str, timeout: float = 90.0) -> None:
        """Wait until the service answers ready, failing with its log if it died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes[name]
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}:\n{self.log(name)}")
            try:
                if httpx.get(f"{self.urls[name]}/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{name} not ready after {timeout} s:\n{self.log(name)}")


@pytest.fixture(scope="session")
def platform(
    platform_kafka_bootstrap: str, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    """Mailbox and the four services as their own processes, on a Kafka of their own (see
    `platform_kafka_bootstrap`) and the session's PostgreSQL."""
    kafka_bootstrap = platform_kafka_bootstrap
    from vocation_local.aio import run_sync
    from vocation_local.pg_admin import create_database

    log_dir = tmp_path_factory.mktemp("platform-logs")
    smtp_port, mailbox_port = free_port(), free_port()
    platform = Platform(
        kafka_bootstrap=kafka_bootstrap,
        databases={name: run_sync(create_database(postgres_url, f"e2e_{name}")) for name in SERVICE_MODULES},
        urls={name: f"http://127.0.0.1:{free_port()}" for name in SERVICE_MODULES},
        mailbox_url=f"http://127.0.0.1:{mailbox_port}",
        smtp_port=smtp_port,
        log_dir=log_dir,
    )
    platform.start_mailbox(mailbox_port)
    for name in SERVICE_MODULES:
        # End-to-end runs may happen at night: the SMS window is tested by the service's own tests.
        # The journeys count single people (one hire): the observatory's small-count protection is
        # tested by the catalogue's own tests, and shows every count here.
        platform.environments[name] = platform.service_environment(
            name,
            VOCATION_SMS_WINDOW_START="00:00",
            VOCATION_SMS_WINDOW_END="23:59",
            VOCATION_OBSERVATORY_MIN_PEOPLE="1",
        )
        platform.start(name)
    try:
        deadline = time.monotonic() + 20
        while not port_accepts(smtp_port):
            assert time.monotonic() < deadline, "the mailbox did not start"
            time.sleep(0.1)
        for name in SERVICE_MODULES:
            platform.wait_ready(name)
        yield platform
    finally:
        platform.shutdown()


__all__ = ["Platform", "platform"]


def eventually(check: Callable[[], bool], what: str, platform: Platform, timeout: float = 60.0) -> None:
    """Poll `check` until it holds, failing with the end of the services' logs."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            names = ("events", "matching", "notifications")
            logs = "\n".join(f"--- {n}\n{platform.log(n)[-1500:]}" for n in names)
            raise AssertionError(f"{what} did not happen within {timeout} s\n{logs}")
        time.sleep(0.25)


def mails_to(platform: Platform, address: str) -> list[dict[str, Any]]:
    """Every email the platform's mailbox received for `address`."""
    return [m for m in mailbox_messages(platform.mailbox_url) if address in m["to"]]


def sms_to(platform: Platform, phone: str) -> list[dict[str, Any]]:
    """Every SMS the platform's sink wrote for `phone`."""
    return [sms for sms in sink_sms(platform.sms_file) if sms["to"] == phone]


def write_to_topic(platform: Platform, event: Any) -> None:
    """Write an event straight to its topic as every producer of the platform writes it (key, headers)."""
    from vocation_shared.contracts.topics import record_key
    from vocation_shared.kafka.headers import cloudevent_headers
    from vocation_shared.kafka.producer import make_producer

    async def send() -> None:
        producer = make_producer(platform.kafka_bootstrap, client_id="e2e-writer")
        await producer.start()
        try:
            topic = str(event.TOPIC)
            await producer.send_and_wait(
                topic,
                event.to_json_bytes(),
                key=record_key(topic, event.subject, event.data).encode(),
                headers=cloudevent_headers(event.type, event.id, event.source),
            )
        finally:
            await producer.stop()

    asyncio.run(send())
