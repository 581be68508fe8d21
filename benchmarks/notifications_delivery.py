"""Benchmark: emails/s to a local SMTP server (aiosmtpd) and SMS/s to the local Brevo-shaped stub, connections reused.

The servers run in a child process (so they do not share the client's interpreter lock); the
client is the service's own adapters: `SmtpEmailSender` (a few SMTP sessions kept open and reused)
and `BrevoSmsSender` (one httpx client with keep-alive). A baseline opens one SMTP session per
email, to show what reuse buys.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from typing import Any

EMAILS = int(os.environ.get("BENCH_EMAILS", "3000"))
SMS = int(os.environ.get("BENCH_SMS", "3000"))
BASELINE_EMAILS = int(os.environ.get("BENCH_BASELINE_EMAILS", "300"))
SMTP_CONNECTIONS = int(os.environ.get("BENCH_SMTP_CONNECTIONS", "4"))
SMS_CONCURRENCY = int(os.environ.get("BENCH_SMS_CONCURRENCY", "8"))
PIPELINE_ROWS = int(os.environ.get("BENCH_PIPELINE_ROWS", "3000"))


def _serve(ports: Any, ready: Any) -> None:  # runs in the child process
    from vocation_notifications.testing import SmsProviderStub, SmtpSink, sms_provider, smtp_server

    async def run() -> None:
        with smtp_server(SmtpSink(keep_messages=False)) as (_, smtp_port):
            stub = SmsProviderStub(api_key="bench-key", keep_messages=False)
            async with sms_provider(stub) as (_, url):
                ports.put((smtp_port, url, stub.api_key))
                ready.set()
                await asyncio.Event().wait()

    asyncio.run(run())


def _message(n: int) -> Any:
    from vocation_notifications.ports import EmailMessage

    return EmailMessage(
        notification_id=f"bench-{n:07d}",
        to=f"candidat{n}@exemple.fr",
        subject="Nouvelle offre pour vous : Aide-soignant(e) de nuit à Bourg-en-Bresse",
        text="Bonjour,\n\nUne offre correspond à votre profil.\n" * 20,
        html="<p>Bonjour,</p><p>Une offre correspond à votre profil.</p>" * 20,
        headers={"List-Unsubscribe": "<https://vocation.example.fr/desinscription?token=x>"},
    )


async def _emails(port: int) -> dict[str, float]:
    from vocation_notifications.adapters.smtp import SmtpEmailSender

    sender = SmtpEmailSender(
        "127.0.0.1",
        port,
        sender="Vocation <n@vocation.example.fr>",
        message_id_domain="bench",
        connections=SMTP_CONNECTIONS,
    )
    limit = asyncio.Semaphore(SMTP_CONNECTIONS * 2)

    async def one(n: int) -> None:
        async with limit:
            await sender.send(_message(n))

    await asyncio.gather(*(one(n) for n in range(50)))  # warm up: sessions open
    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(EMAILS)))
    elapsed = time.perf_counter() - started
    await sender.aclose()
    return {"emails": EMAILS, "seconds": round(elapsed, 3), "per_s": round(EMAILS / elapsed, 1)}


async def _emails_without_reuse(port: int) -> dict[str, float]:
    import aiosmtplib
    from vocation_notifications.adapters.smtp import render_mime

    limit = asyncio.Semaphore(SMTP_CONNECTIONS)

    async def one(n: int) -> None:
        async with limit:
            message = _message(n)
            wire = render_mime(message, sender="Vocation <n@vocation.example.fr>", domain="bench")
            await aiosmtplib.send(
                wire, sender="n@vocation.example.fr", recipients=[message.to], hostname="127.0.0.1", port=port
            )

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(BASELINE_EMAILS)))
    elapsed = time.perf_counter() - started
    return {
        "emails": BASELINE_EMAILS,
        "seconds": round(elapsed, 3),
        "per_s": round(BASELINE_EMAILS / elapsed, 1),
    }


async def _sms(url: str, key: str) -> dict[str, float]:
    from vocation_notifications.adapters.sms import BrevoSmsSender
    from vocation_notifications.ports import SmsMessage

    sender = BrevoSmsSender(url, key, max_connections=SMS_CONCURRENCY)
    limit = asyncio.Semaphore(SMS_CONCURRENCY)
    text = "Vocation : offre Aide-soignant(e) de nuit à Bourg-en-Bresse (12 km). https://vocation.example.fr/offres/vac-1 STOP au 38100"

    async def one(n: int) -> None:
        async with limit:
            await sender.send(SmsMessage(f"bench-{n:07d}", f"+3361{n:07d}", text))

    await asyncio.gather(*(one(n) for n in range(50)))
    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(SMS)))
    elapsed = time.perf_counter() - started
    await sender.aclose()
    return {"sms": SMS, "seconds": round(elapsed, 3), "per_s": round(SMS / elapsed, 1)}


async def _pipeline(postgres_url: str, bootstrap: str, smtp_port: int) -> dict[str, float]:
    """The real worker: due outbox rows → claim → render → SMTP → record → `notification-sent` on Kafka."""
    import uuid
    from datetime import UTC, datetime

    from vocation_local.pg_admin import create_database
    from vocation_notifications.app import running_service
    from vocation_notifications.settings import NotificationsSettings
    from vocation_shared.logs import configure_logging

    configure_logging("notifications-bench", "WARNING")
    dsn = await create_database(postgres_url, f"bench_notifications_{uuid.uuid4().hex[:8]}")
    settings = NotificationsSettings(
        database_url=dsn,
        kafka_bootstrap=bootstrap,
        smtp_port=smtp_port,
        smtp_connections=SMTP_CONNECTIONS,
        worker_enabled=False,
        worker_batch=int(os.environ.get("BENCH_WORKER_BATCH", "200")),
        worker_lanes=int(os.environ.get("BENCH_WORKER_LANES", "1")),
        daily_cap_email=PIPELINE_ROWS,
        consumer_group=f"bench-{uuid.uuid4().hex[:8]}",
        dev_mode=True,  # a measurement on the public development secrets
    )
    payload = {
        "offer_id": "vac-1",
        "offer_kind": "vacancy",
        "offer_title": "Aide-soignant(e) de nuit",
        "rome_code": "J1501",
        "commune_insee": "01053",
        "establishment_name": "EHPAD Les Tilleuls",
        "distance_km": 12.0,
        "score": 80,
        "reasons": ["à 12 km de chez vous", "logement proposé"],
    }
    now = datetime.now(UTC)
    async with running_service(settings) as service:
        async with service.pool.acquire() as conn:
            await conn.executemany(
                "INSERT INTO contacts (candidate_id, email, channels, version) VALUES ($1, $2, '{email}', 1)",
                [(f"c{n}", f"c{n}@exemple.fr") for n in range(PIPELINE_ROWS)],
            )
            await conn.executemany(
                """
                INSERT INTO outbox (id, recipient_id, recipient_kind, channel, purpose, about_id, payload, state,
                                    not_before, created_at)
                VALUES ($1, $2, 'candidate', 'email', 'match', 'vac-1', $3::jsonb, 'pending', $4, $4)
                """,
                [(uuid.uuid4(), f"c{n}", payload, now) for n in range(PIPELINE_ROWS)],
            )
        stop = asyncio.Event()
        started = time.perf_counter()
        worker = asyncio.create_task(service.worker.run(stop, 0.01, settings.worker_lanes))
        sent = 0
        while sent < PIPELINE_ROWS and not worker.done():
            await asyncio.sleep(0.02)
            sent = int(await service.pool.fetchval("SELECT count(*) FROM outbox WHERE state = 'sent'"))
        elapsed = time.perf_counter() - started
        stop.set()
        await worker
    return {"notifications": int(sent), "seconds": round(elapsed, 3), "per_s": round(int(sent) / elapsed, 1)}


def main() -> dict[str, object]:
    """Run the benchmark and return its figures."""
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    ready = context.Event()
    server = context.Process(target=_serve, args=(ports, ready), daemon=True)
    server.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("the local SMTP server and SMS stub did not start")
        smtp_port, url, key = ports.get(timeout=5)

        async def run() -> dict[str, object]:
            return {
                "smtp_reused_connections": await _emails(smtp_port),
                "smtp_one_connection_per_email": await _emails_without_reuse(smtp_port),
                "sms_brevo_stub_keepalive": await _sms(url, key),
                "smtp_connections": SMTP_CONNECTIONS,
                "sms_concurrency": SMS_CONCURRENCY,
            }

        figures = asyncio.run(run())
        if PIPELINE_ROWS:
            from benchmarks.infra import bench_infra

            with bench_infra(partitions=3) as infra:
                figures["worker_outbox_to_smtp"] = asyncio.run(
                    _pipeline(infra.postgres_url, infra.kafka_bootstrap, smtp_port)
                )
        return figures
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: find `benchmarks`

    print(json.dumps(main(), indent=2))
