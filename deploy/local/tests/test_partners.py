"""`vocation_local.partners` against the operator CLI and a real events database."""

from __future__ import annotations

import os

import pytest
from vocation_local.partners import PartnerCommandError, PartnerKey, create_partner, rotate_key

pytestmark = pytest.mark.integration


def test_a_partner_is_created_then_given_a_new_key(fresh_database: str) -> None:
    environment = {**os.environ, "VOCATION_DATABASE_URL": fresh_database, "VOCATION_LOG_JSON": "false"}
    allowed = ("fr.vocation.vacancy.posted.v1", "fr.vocation.vacancy.closed.v1")

    created = create_partner(environment, "portail-ain", "urn:partner:ain", allowed, rate=50, burst=100)

    assert created == PartnerKey("portail-ain", "urn:partner:ain", created.key, allowed)
    assert created.key.startswith("vk_")
    with pytest.raises(PartnerCommandError, match="exists already"):
        create_partner(environment, "portail-ain", "urn:partner:ain")
    rotated = rotate_key(environment, "portail-ain")
    assert (rotated.name, rotated.source) == ("portail-ain", "urn:partner:ain")
    assert rotated.key.startswith("vk_") and rotated.key != created.key


def test_a_refused_partner_says_why(fresh_database: str) -> None:
    environment = {**os.environ, "VOCATION_DATABASE_URL": fresh_database}
    with pytest.raises(PartnerCommandError, match=r"fr\.vocation\.nope\.v1"):
        create_partner(environment, "x", "urn:partner:x", ["fr.vocation.nope.v1"])
