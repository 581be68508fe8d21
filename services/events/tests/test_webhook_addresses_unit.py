"""Where webhooks may not go: the address rules, the operator's allowed networks, the guard."""

from __future__ import annotations

import ipaddress

import httpx
import pytest
from vocation_events.adapters.webhooks import AddressGuard, guarded_transport
from vocation_events.core.webhooks import SubscriptionError, refused_address
from vocation_events.ports import RefusedTarget

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.5", "private"),
        ("172.20.1.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("100.64.0.1", "CGNAT"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "metadata"),
        ("64:ff9b::a9fe:a9fe", "metadata"),
        ("2002:c0a8:101::1", "private"),
    ],
)
def test_internal_addresses_are_refused(address: str, why: str) -> None:
    reason = refused_address(ipaddress.ip_address(address))
    assert reason is not None and why in reason


@pytest.mark.parametrize("address", ["8.8.8.8", "193.51.24.1", "2a01:e0a:1::1", "100.128.0.1", "172.32.0.1"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert refused_address(ipaddress.ip_address(address)) is None


def test_the_operator_allows_named_networks_only() -> None:
    allowed = [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128")]
    assert refused_address(ipaddress.ip_address("127.0.0.1"), allowed) is None
    assert refused_address(ipaddress.ip_address("::1"), allowed) is None
    assert refused_address(ipaddress.ip_address("::ffff:127.0.0.1"), allowed) is None
    assert refused_address(ipaddress.ip_address("127.0.0.2"), allowed) is not None
    assert refused_address(ipaddress.ip_address("169.254.169.254"), allowed) is not None


async def test_the_guard_checks_every_address_a_name_resolves_to() -> None:
    with pytest.raises(RefusedTarget, match="loopback"):
        await AddressGuard().addresses("localhost", 80)
    with pytest.raises(RefusedTarget, match="metadata"):
        await AddressGuard().addresses("169.254.169.254", 80)
    with pytest.raises(RefusedTarget, match="loopback"):
        await AddressGuard().addresses("[::1]", 80)
    assert await AddressGuard([ipaddress.ip_network("127.0.0.0/8")]).addresses("127.0.0.1", 80) == [
        "127.0.0.1"
    ]


async def test_a_subscription_to_an_internal_host_is_refused_with_the_reason() -> None:
    with pytest.raises(SubscriptionError, match=r"internal addresses.*loopback"):
        await AddressGuard().check_url("http://127.0.0.1:9000/hook")
    await AddressGuard([ipaddress.ip_network("127.0.0.1/32")]).check_url("http://127.0.0.1:9000/hook")


async def test_the_transport_refuses_before_connecting() -> None:
    async with httpx.AsyncClient(transport=guarded_transport(AddressGuard()), trust_env=False) as client:
        with pytest.raises(RefusedTarget, match="metadata"):
            await client.get("http://169.254.169.254/latest/meta-data/")
        with pytest.raises(RefusedTarget, match="loopback"):
            await client.post("http://localhost:1/hook", content=b"{}")
