"""Partners in the application loop: only a vacancy's owner answers its applications and receives them.

An answer (`application.answered`) names the candidate as its subject and the vacancy in
`data.offer_id`: the gateway accepts it only from the partner that owns the vacancy. The
applications' webhooks (the only ones carrying personal data) go to that owner and to nobody else.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from vocation_local.e2e import Platform, eventually
from vocation_local.faults import read_topics
from vocation_local.paths import free_port
from vocation_shared.contracts.payloads import application_id_of
from vocation_shared.testing import samples

from tests.security.kit import (
    BISCARROSSE,
    Partner,
    assert_refused,
    new_partner,
    partners_cli,
    subscription_id,
    vacancy,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ANSWERED = "fr.vocation.application.answered.v1"
APPLICATION_TYPES = [f"fr.vocation.application.{t}.v1" for t in ("submitted", "answered", "withdrawn")]


def _posted(platform: Platform, partner: Partner, run: str) -> str:
    """A vacancy of `partner`'s, published through the gateway; its id."""
    offer = vacancy(run, partner.name[-6:], BISCARROSSE, "K1305", "DETISF", title="TISF auprès des familles")
    partner.post(platform, partner.event("fr.vocation.vacancy.posted.v1", offer["id"], offer))
    return str(offer["id"])


def _answer(partner: Partner, offer_id: str, candidate_id: str) -> dict[str, Any]:
    """`partner`'s recruiter screen proposes an exchange to the candidate who applied to `offer_id`."""
    pair = {"candidate_id": candidate_id, "offer_id": offer_id}
    data = samples.application_answered(application_id=application_id_of(**pair), **pair)
    return partner.event(ANSWERED, candidate_id, data)


def _published(platform: Platform, event: dict[str, Any]) -> bool:
    """Whether this event is on the `applications` topic (under its application's key)."""
    data = event["data"]
    key = f"{data['candidate_id']}/{data['application_id']}".encode()
    records = asyncio.run(read_topics(platform.kafka_bootstrap, ["applications"], within_s=30))
    return any(
        r.key == key and r.value is not None and json.loads(r.value)["id"] == event["id"] for r in records
    )


def test_partner_b_cannot_answer_partner_as_application_and_nothing_is_published(
    platform: Platform, partner_a: Partner, partner_b: Partner
) -> None:
    run = uuid.uuid4().hex[:8]
    offer_id = _posted(platform, partner_a, run)
    candidate_id = f"cand-{run}"
    forged = _answer(partner_b, offer_id, candidate_id)
    answer = partner_b.send(platform, forged)
    assert_refused(answer, "/data/offer_id")
    assert answer.json()["type"] == "urn:vocation:problem:not-owner"
    assert candidate_id not in answer.text, "the problem names no person"
    # A vacancy no one owns is refused the same way: B cannot take it by answering first.
    assert_refused(
        partner_b.send(platform, _answer(partner_b, f"vac-{run}-none", candidate_id)), "/data/offer_id"
    )
    # The pair id is the contract's: an application id that is not the pair's is 422.
    pair = {"candidate_id": candidate_id, "offer_id": offer_id}
    invented = samples.application_answered(application_id=application_id_of(f"cand-{run}-other", offer_id))
    answer = partner_a.send(platform, partner_a.event(ANSWERED, candidate_id, invented | pair))
    assert answer.status_code == 422, answer.text
    assert not _published(platform, forged), "B's answer reached the applications topic"
    # The owner answers, and its answer is there.
    answered = _answer(partner_a, offer_id, candidate_id)
    partner_a.post(platform, answered)
    assert _published(platform, answered)


def test_a_revoked_partners_answer_is_refused(platform: Platform) -> None:
    owner = new_partner(platform, "revoked")
    run = uuid.uuid4().hex[:8]
    offer_id = _posted(platform, owner, run)
    revoked = partners_cli(platform.environments["events"], "revoke", owner.name)
    assert revoked.returncode == 0, revoked.stderr
    late = _answer(owner, offer_id, f"cand-{run}")

    def refused() -> bool:  # a looked-up key is trusted for a few seconds (`VOCATION_PARTNER_CACHE_TTL_S`)
        answer = owner.send(platform, late)
        # 200: the same event, accepted before the revocation reached this process, is a duplicate.
        assert answer.status_code in (200, 202, 401), answer.text
        return answer.status_code == 401

    eventually(refused, "the revocation", platform, timeout=30)
    answer = owner.send(platform, late)
    assert answer.headers["content-type"].startswith("application/problem+json")


class _Server(ThreadingHTTPServer):
    bodies: list[dict[str, Any]]


class _Receiver(BaseHTTPRequestHandler):
    """A partner's webhook endpoint: keeps every event it is sent."""

    def do_POST(self) -> None:
        assert isinstance(self.server, _Server)
        self.server.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receivers() -> Iterator[tuple[_Server, _Server]]:
    """Two endpoints on 127.0.0.1 (a network the test platform allows for webhooks)."""
    servers = []
    for _ in range(2):
        server = _Server(("127.0.0.1", free_port()), _Receiver)
        server.bodies = []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    try:
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_a_partner_not_owning_the_vacancy_receives_no_application_webhook(
    platform: Platform, receivers: tuple[_Server, _Server]
) -> None:
    environment = platform.environments["events"]
    owner, other = new_partner(platform, "hook-owner"), new_partner(platform, "hook-other")
    subscriptions = []
    for partner, server in zip((owner, other), receivers, strict=True):
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        types = [arg for t in APPLICATION_TYPES for arg in ("--type", t)]
        result = partners_cli(environment, "subscribe", partner.name, "--url", url, *types)
        assert result.returncode == 0, result.stderr
        subscriptions.append(subscription_id(result))
    try:
        time.sleep(6)  # the webhook consumer sees new subscriptions within 5 s
        run = uuid.uuid4().hex[:8]
        offer_id = _posted(platform, owner, run)
        answered = _answer(owner, offer_id, f"cand-{run}")
        owner.post(platform, answered)
        assert_refused(other.send(platform, _answer(other, offer_id, f"cand-{run}")), "/data/offer_id")

        def owner_ids() -> list[str]:
            return [b["id"] for b in receivers[0].bodies]

        eventually(lambda: answered["id"] in owner_ids(), "the owner's application webhook", platform, 30)
        time.sleep(3)  # whatever the other partner would have been sent has been sent by now
        assert receivers[1].bodies == [], "an application went to a partner that does not own the vacancy"
        assert owner_ids() == [answered["id"]]
    finally:
        for subscription in subscriptions:
            partners_cli(environment, "unsubscribe", subscription)
