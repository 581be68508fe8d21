"""Two partners of one platform, A and B, who do not trust each other."""

from __future__ import annotations

import pytest
from vocation_local.e2e import Platform

from tests.security.kit import Partner, new_partner


@pytest.fixture(scope="session")
def partner_a(platform: Platform) -> Partner:
    """A partner allowed every partner type (`--allow '*'`)."""
    return new_partner(platform, "a")


@pytest.fixture(scope="session")
def partner_b(platform: Platform) -> Partner:
    """Another partner allowed every partner type: A's competitor, or a compromised system."""
    return new_partner(platform, "b")
