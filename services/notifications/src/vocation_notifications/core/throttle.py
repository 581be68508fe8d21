"""The failure throttle of the public endpoints, now shared with the catalogue's pages (`vocation_shared.http.throttle`)."""

from vocation_shared.http.throttle import FailureThrottle, client_key, retry_after

__all__ = ["FailureThrottle", "client_key", "retry_after"]
