"""Run as the README shows, without `VOCATION_DATABASE_URL`: the CLI and the gateway use the same database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from vocation_events.settings import EventsSettings
from vocation_events.testing.helpers import wait_ready
from vocation_local.paths import free_port
from vocation_local.pg_admin import create_database, drop_database
from vocation_shared.testing import samples

pytestmark = pytest.mark.integration

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 5432


def test_the_events_service_and_its_commands_default_to_the_events_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VOCATION_DATABASE_URL", raising=False)
    assert EventsSettings().database_url == f"postgresql://postgres@{DEFAULT_HOST}:{DEFAULT_PORT}/events"


@contextlib.asynccontextmanager
async def standing_in_for_the_default_server(postgres_url: str) -> AsyncIterator[None]:
    """Make 127.0.0.1:5432 reach the test server (a TCP relay), as `make infra-up` would serve it."""
    server = urlsplit(postgres_url)
    if (server.hostname, server.port) == (DEFAULT_HOST, DEFAULT_PORT):
        yield
        return

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(server.hostname, server.port)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    try:
        relay_server = await asyncio.start_server(relay, DEFAULT_HOST, DEFAULT_PORT)
    except OSError:
        pytest.skip("port 5432 is taken: cannot stand in for the default server")
    async with relay_server:
        yield
        relay_server.close()


async def test_a_partner_created_without_a_database_url_is_known_to_the_gateway(
    postgres_url: str, kafka_bootstrap: str
) -> None:
    async with standing_in_for_the_default_server(postgres_url):
        await create_database(postgres_url, "events")
        env = {k: v for k, v in os.environ.items() if k != "VOCATION_DATABASE_URL"}
        env["VOCATION_KAFKA_BOOTSTRAP"] = kafka_bootstrap
        gateway = None
        try:
            cli = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "vocation_shared.cli",
                "partners",
                "create",
                "ehpad-tilleuls",
                "--source",
                "urn:partner:test",
                "--allow",
                "fr.vocation.vacancy.posted.v1",
                "--json",
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(cli.communicate(), 60)
            assert cli.returncode == 0, err.decode()
            assert f"events database: {DEFAULT_HOST}:{DEFAULT_PORT}/events" in err.decode()
            key = orjson.loads(out)["key"]

            # the gateway as the README runs it, but without the database variable either
            port = free_port()
            gateway = _gateway_without_database_url(env, port)
            base = f"http://127.0.0.1:{port}"
            await wait_ready(base, gateway)
            async with httpx.AsyncClient(base_url=base, timeout=20) as http:
                event = samples.cloud_event(
                    "fr.vocation.vacancy.posted.v1", "vac-default-db", samples.vacancy()
                )
                event["data"]["id"] = "vac-default-db"
                response = await http.post(
                    "/v1/events",
                    content=orjson.dumps(event),
                    headers={
                        "Authorization": f"Bearer {key}",
                        "Content-Type": "application/cloudevents+json",
                    },
                )
            assert response.status_code == 202, response.text
        finally:
            if gateway is not None and gateway.poll() is None:
                gateway.terminate()
                await asyncio.to_thread(gateway.wait, 30)
            await drop_database(postgres_url, "events")


def _gateway_without_database_url(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "vocation_events"],
        env={
            **env,
            "VOCATION_HTTP_PORT": str(port),
            "VOCATION_ARCHIVE_ENABLED": "false",
            "VOCATION_WEBHOOKS_ENABLED": "false",
            "VOCATION_DEV_MODE": "true",
            "VOCATION_LOG_LEVEL": "WARNING",
        },
    )
