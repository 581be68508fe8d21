"""The service killed with SIGKILL mid-batch and restarted: every expected message arrives, none twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from collections import Counter
from pathlib import Path

import pytest
from vocation_local.kafka_admin import start_groups_at_end
from vocation_notifications.testing import (
    SmsProviderStub,
    SmtpSink,
    contact,
    email_events_app,
    eventually,
    free_port,
    match,
    phone_of,
    sms_provider,
    smtp_server,
)
from vocation_shared.contracts import events as ev
from vocation_shared.kafka import EventPublisher
from vocation_shared.testing.asgi import serve_asgi
from vocation_shared.testing.process import start_service

from .conftest import CONSUMED

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CANDIDATES = 3
MATCHES_EACH = 8


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return start_service("vocation_notifications", env, out)


async def test_service_killed_mid_batch_and_restarted_sends_every_message_exactly_once(
    kafka_bootstrap: str, fresh_database: str, publisher: EventPublisher, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:10]
    candidates = [f"crash-{run}-{n}" for n in range(CANDIDATES)]
    expected = CANDIDATES * MATCHES_EACH
    sink = SmtpSink(delay_s=0.03)
    with smtp_server(sink) as (_, smtp_port):
        async with (
            sms_provider(SmsProviderStub()) as (stub, sms_url),
            serve_asgi(email_events_app(sink)) as events_url,
        ):
            env = {
                **os.environ,
                "VOCATION_DATABASE_URL": fresh_database,
                "VOCATION_KAFKA_BOOTSTRAP": kafka_bootstrap,
                "VOCATION_CONSUMER_GROUP": f"crash-{run}",
                "VOCATION_HTTP_PORT": str(free_port()),
                "VOCATION_SMTP_PORT": str(smtp_port),
                "VOCATION_SMTP_CONNECTIONS": "1",
                "VOCATION_EMAIL_EVENTS_URL": events_url,
                "VOCATION_EMAIL_EVENTS_KEY": "test-key",
                "VOCATION_SMS_PROVIDER": "brevo",
                "VOCATION_SMS_URL": sms_url,
                "VOCATION_SMS_KEY": stub.api_key,
                "VOCATION_SMS_CONCURRENCY": "1",
                "VOCATION_SMS_WINDOW_START": "00:00",
                "VOCATION_SMS_WINDOW_END": "00:00",
                "VOCATION_DAILY_CAP_EMAIL": "1000",
                "VOCATION_DAILY_CAP_SMS": "1000",
                "VOCATION_LEASE_S": "1",
                "VOCATION_WORKER_BATCH": "10",
                "VOCATION_LOG_JSON": "false",
                "VOCATION_DEV_MODE": "true",  # the public test secrets
            }
            # Start where the shared topics end now, not at other tests' thousands of matches.
            await start_groups_at_end(kafka_bootstrap, {f"crash-{run}-{t}": t for t in CONSUMED})
            addresses = {f"{c}@exemple.fr" for c in candidates}
            phones = {phone_of(c).lstrip("+") for c in candidates}

            def ours_mail() -> list[str]:
                return [m.message_id for m in sink.received if set(m.recipients) & addresses]

            def ours_sms() -> list[str]:
                return [s.tag for s in stub.sent if s.recipient in phones]

            await publisher.publish_many(
                [ev.ContactRegistered.build(contact(c), source="urn:test:partner") for c in candidates]
            )
            await publisher.publish_many(
                [match(c, f"vac-{run}-{n}") for c in candidates for n in range(MATCHES_EACH)]
            )
            log = tmp_path / "service.log"
            first = _start(env, log)
            try:
                await eventually(
                    lambda: _at_least(ours_mail, expected // 3), within_s=60, what="first emails"
                )
                first.send_signal(signal.SIGKILL)
                first.wait(10)
            finally:
                if first.poll() is None:
                    first.kill()
            sent_before_crash = len(set(ours_mail()))
            assert sent_before_crash < expected, "the kill should land mid-batch"

            second = _start(env, log)
            try:
                await eventually(
                    lambda: _at_least(ours_mail, expected, distinct=True), within_s=60, what="emails"
                )
                await eventually(
                    lambda: _at_least(ours_sms, expected, distinct=True), within_s=60, what="SMS"
                )
                await asyncio.sleep(2)  # time for any duplicate to show up
            finally:
                second.send_signal(signal.SIGTERM)
                try:
                    second.wait(15)
                except subprocess.TimeoutExpired:
                    second.kill()

    sms = Counter(ours_sms())
    assert len(sms) == expected and max(sms.values()) == 1, "the provider knew them: no SMS twice"
    mails = Counter(ours_mail())
    assert len(mails) == expected and max(mails.values()) == 1, "the activity log knew them: no email twice"


async def _at_least(found: object, count: int, *, distinct: bool = False) -> bool:
    assert callable(found)
    values = found()
    return len(set(values) if distinct else values) >= count
