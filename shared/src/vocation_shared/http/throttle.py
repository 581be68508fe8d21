"""Failures per client address (invalid links, wrong tokens) on public endpoints: a token bucket each, in a bounded LRU."""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


def client_key(address: str) -> str:
    """The unit an address is counted in: itself for IPv4, its /64 for IPv6 (one subscriber's range)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an address (a test client, a Unix socket): counted as given
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class FailureThrottle:
    """`burst` failures at once (20), then `per_minute` (10); past that, the address waits (429).

    Only failures are charged, and only an address that failed holds an entry: a flood of
    random keys from many addresses fills at most `max_addresses` entries, evicting the least
    recently seen (an evicted address starts again with a full bucket: it gains nothing it
    would not gain from a new address). Memory stays bounded whatever is sent.
    """

    def __init__(self, per_minute: float = 10.0, burst: int = 20, *, max_addresses: int = 10_000) -> None:
        self._rate = per_minute / 60.0
        self._capacity = float(burst)
        self._max = max_addresses
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _refilled(self, key: str, now: float) -> _Bucket | None:
        bucket = self._buckets.get(key)
        if bucket is None:
            return None
        bucket.tokens = min(self._capacity, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        return bucket

    def wait(self, address: str, now: float) -> float:
        """Seconds `address` must wait before it is heard again (0.0: go on)."""
        bucket = self._refilled(client_key(address), now)
        if bucket is None or bucket.tokens >= 1.0:
            return 0.0
        return (1.0 - bucket.tokens) / self._rate

    def failed(self, address: str, now: float) -> None:
        """Charge one failure to `address`."""
        key = client_key(address)
        bucket = self._refilled(key, now)
        if bucket is None:
            bucket = _Bucket(self._capacity, now)
            self._buckets[key] = bucket
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        bucket.tokens = max(0.0, bucket.tokens - 1.0)


def retry_after(wait_s: float) -> str:
    """The `Retry-After` value (whole seconds, at least 1) of a wait."""
    return str(max(1, math.ceil(wait_s)))
