"""Webhooks cannot reach the inside: loopback, private, link-local and cloud metadata addresses are refused.

Safety: no packet of these tests leaves the machine. The platform's webhook sender is only ever
given loopback targets (127.0.0.0/8, ::1, localhost), each watched by a listener of the test.
Internal addresses outside the loopback (169.254.169.254, 10.0.0.1, fd00::1) are handed only to
the operator CLI on a scratch database that no sender reads: whatever the CLI accepts there is
never delivered. Addresses the platform's operator allowed for development
(`VOCATION_WEBHOOK_ALLOWED_NETWORKS`) are left out of the targets; 127.0.0.2 never is.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from vocation_local.aio import run_sync
from vocation_local.e2e import Platform
from vocation_local.paths import free_port
from vocation_local.pg_admin import create_database

from tests.security.kit import BISCARROSSE, Partner, partners_cli, query, subscription_id, vacancy

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TYPE = "fr.vocation.vacancy.posted.v1"
INTERNAL_TARGETS = [
    "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "https://10.0.0.1/admin",
    "https://192.168.1.1/",
    "https://[fd00::1]/hook",
    "https://[fe80::1]/hook",
]
LAST_ERRORS = """
    SELECT s.id, (array_agg(d.last_error) FILTER (WHERE d.last_error IS NOT NULL))[1] AS last_error,
           count(*) FILTER (WHERE d.state = 'delivered') AS delivered
    FROM webhook_subscriptions s LEFT JOIN webhook_deliveries d ON d.subscription_id = s.id
    WHERE s.id = ANY($1::text[]) GROUP BY s.id
"""
STOP = "UPDATE webhook_subscriptions SET revoked_at = now() WHERE id = ANY($1::text[]) AND revoked_at IS NULL"
DROP = "DELETE FROM webhook_deliveries WHERE subscription_id = ANY($1::text[]) AND state = 'pending'"


class _Server(ThreadingHTTPServer):
    requests: list[str]


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        assert isinstance(self.server, _Server)
        self.server.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server6(_Server):
    address_family = socket.AF_INET6


def _listen(host: str, port: int) -> _Server:
    server = (_Server6 if ":" in host else _Server)((host, port), _Hook)
    server.requests = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def listeners() -> Iterator[dict[str, _Server]]:
    """Receivers on loopback addresses, by address: 127.0.0.1 and ::1 on one port, 127.0.0.2 and .3 on another."""
    shared, other = free_port(), free_port()
    servers = {
        f"127.0.0.1:{shared}": _listen("127.0.0.1", shared),
        f"[::1]:{shared}": _listen("::1", shared),
        f"127.0.0.2:{other}": _listen("127.0.0.2", other),
        f"127.0.0.3:{other}": _listen("127.0.0.3", other),
    }
    try:
        yield servers
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()


def _allowed(environment: dict[str, str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The networks the platform's operator allowed for webhooks (a development setting)."""
    setting = environment.get("VOCATION_WEBHOOK_ALLOWED_NETWORKS", "")
    return [ipaddress.ip_network(item) for item in setting.replace(" ", ",").split(",") if item]


def _targets(listeners: dict[str, _Server], environment: dict[str, str]) -> list[str]:
    """Webhook URLs naming the listeners (by address, and `localhost`), outside the allowed networks."""
    allowed = _allowed(environment)

    def refused(address: str) -> bool:
        ip = ipaddress.ip_address(address.strip("[]"))
        return not any(ip in network for network in allowed)

    hosts = [address for address in listeners if refused(address.rsplit(":", 1)[0])]
    port = next(iter(listeners)).rsplit(":", 1)[1]
    named = [f"localhost:{port}"] if refused("127.0.0.1") and refused("::1") else []
    return [f"http://{host}/hook" for host in hosts + named]


def test_webhooks_to_loopback_addresses_never_reach_them(
    platform: Platform, partner_a: Partner, listeners: dict[str, _Server]
) -> None:
    environment = platform.environments["events"]
    database = platform.databases["events"]
    accepted: dict[str, str] = {}
    targets = _targets(listeners, environment)
    assert any("127.0.0.2" in url for url in targets), targets
    for url in targets:
        result = partners_cli(environment, "subscribe", partner_a.name, "--url", url, "--type", TYPE)
        if result.returncode == 0:
            accepted[url] = subscription_id(result)
    try:
        if accepted:
            time.sleep(6)  # the webhook consumer sees new subscriptions within 5 s
            run = uuid.uuid4().hex[:8]
            offer = vacancy(run, "hook", BISCARROSSE, "K1305", "DETISF", title="TISF, offre pour webhooks")
            partner_a.post(platform, partner_a.event(TYPE, offer["id"], offer))

            deadline = time.monotonic() + 30
            explained: dict[str, str] = {}
            while time.monotonic() < deadline and len(explained) < len(accepted):
                reached = {address: s.requests for address, s in listeners.items() if s.requests}
                assert not reached, f"a webhook reached a loopback address: {reached}"
                rows = query(database, LAST_ERRORS, list(accepted.values()))
                assert all(r["delivered"] == 0 for r in rows), [dict(r) for r in rows]
                explained = {r["id"]: r["last_error"] for r in rows if r["last_error"]}
                time.sleep(1)
            assert len(explained) == len(accepted), f"deliveries that failed without a reason: {accepted}"
            reached = {address: s.requests for address, s in listeners.items() if s.requests}
            assert not reached, f"a webhook reached a loopback address: {reached}"
    finally:
        # What `vocation partners unsubscribe` does, without a process each.
        query(database, STOP, list(accepted.values()))
        query(database, DROP, list(accepted.values()))


@pytest.fixture(scope="module")
def scratch(platform: Platform, postgres_url: str) -> tuple[dict[str, str], str]:
    """The CLI's environment on a scratch events database that no webhook sender reads, and a partner there."""
    database = run_sync(create_database(postgres_url, "security_scratch_events"))
    environment = platform.environments["events"] | {"VOCATION_DATABASE_URL": database}
    name = f"sec-ssrf-{uuid.uuid4().hex[:6]}"
    created = partners_cli(environment, "create", name, "--source", f"urn:partner:{name}", "--allow", "*")
    assert created.returncode == 0, created.stderr
    return environment, name


@pytest.mark.parametrize("url", INTERNAL_TARGETS)
def test_a_subscription_to_an_internal_address_is_refused(
    scratch: tuple[dict[str, str], str], url: str
) -> None:
    environment, name = scratch
    result = partners_cli(environment, "subscribe", name, "--url", url, "--type", TYPE)
    assert result.returncode != 0, f"{url} accepted: {result.stdout}"
    assert result.stderr.strip(), "a refusal says why"
    database = environment["VOCATION_DATABASE_URL"]
    assert not query(database, "SELECT 1 FROM webhook_subscriptions WHERE url = $1", url)


def test_the_subscribe_refusal_does_not_hold_for_a_public_https_address(
    scratch: tuple[dict[str, str], str],
) -> None:
    """The refusals above are about the address: a public https URL is still accepted (and never delivered)."""
    environment, name = scratch
    result = partners_cli(
        environment, "subscribe", name, "--url", "https://93.184.215.14/hook", "--type", TYPE
    )
    assert result.returncode == 0, result.stderr
