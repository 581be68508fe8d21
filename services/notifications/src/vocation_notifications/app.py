"""The composition root: pool, broker, consumers, senders, worker and HTTP app, built and closed together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from vocation_shared.http import create_app, kafka_reachable, operations_router, postgres_reachable
from vocation_shared.kafka import DeadLetterPublisher, EventConsumer, EventPublisher, RetryPolicy, make_broker
from vocation_shared.logs import get_logger
from vocation_shared.postgres import create_pool
from vocation_shared.postgres.retention import PROCESSED_EVENTS, Retention, pruning
from vocation_shared.secrets import fail_closed

from vocation_notifications.adapters.email_events import BrevoEmailEvents
from vocation_notifications.adapters.http_api import PUBLIC_PATHS, api_router
from vocation_notifications.adapters.kafka_handlers import Handlers
from vocation_notifications.adapters.metrics import Metrics
from vocation_notifications.adapters.public_http import BodyLimit, render_problem
from vocation_notifications.adapters.sms import BrevoSmsSender, LocalSmsSink
from vocation_notifications.adapters.smtp import SmtpEmailSender
from vocation_notifications.adapters.store import FINISHED_NOTIFICATIONS, OutcomeEvents, Store
from vocation_notifications.adapters.templates import Renderer
from vocation_notifications.consent_service import ConsentService
from vocation_notifications.core.backoff import Backoff
from vocation_notifications.core.throttle import FailureThrottle
from vocation_notifications.delivery import DeliveryWorker
from vocation_notifications.ports import Clock, EmailSender, SmsSender, SystemClock
from vocation_notifications.settings import NotificationsSettings

MIGRATIONS = Path(__file__).parent / "migrations"
log = get_logger(__name__)


@dataclass
class NotificationsService:
    """Everything the running service is made of (tests reach in through it)."""

    settings: NotificationsSettings
    app: FastAPI
    pool: asyncpg.Pool
    broker: KafkaBroker
    store: Store
    worker: DeliveryWorker
    consent: ConsentService
    metrics: Metrics
    renderer: Renderer
    email: EmailSender
    sms: SmsSender


def check_secrets(settings: NotificationsSettings) -> None:
    """Refuse to start on a public, placeholder or short secret, unless in development mode.

    Raises `InsecureConfiguration` (a `SystemExit` with one line naming the variable and the
    command that makes a good value); in development mode, logs that the mode is on instead.
    """
    fail_closed(settings.secret_problems(), dev_mode=settings.dev_mode, log=log)


def make_email_sender(settings: NotificationsSettings) -> SmtpEmailSender:
    """The SMTP sender these settings describe."""
    return SmtpEmailSender(
        settings.smtp_host,
        settings.smtp_port,
        sender=settings.email_from,
        message_id_domain=settings.message_id_domain,
        username=settings.smtp_user,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        tls=settings.smtp_tls,
        connections=settings.smtp_connections,
        timeout_s=settings.smtp_timeout_s,
        events=make_email_events(settings),
    )


def make_email_events(settings: NotificationsSettings) -> BrevoEmailEvents | None:
    """The email provider's activity log, when one is configured (an empty URL is none)."""
    if not settings.email_events_url:
        return None
    key = settings.email_events_key.get_secret_value() if settings.email_events_key else ""
    return BrevoEmailEvents(settings.email_events_url, key)


def make_sms_sender(settings: NotificationsSettings) -> SmsSender:
    """Brevo's API, or the local sink for development."""
    if settings.sms_provider == "brevo":
        key = settings.sms_key.get_secret_value() if settings.sms_key else ""
        return BrevoSmsSender(
            settings.sms_url, key, sender=settings.sms_sender, max_connections=settings.sms_concurrency
        )
    return LocalSmsSink(settings.sms_sink_file)


@contextlib.asynccontextmanager
async def running_service(
    settings: NotificationsSettings,
    *,
    clock: Clock | None = None,
    email_sender: EmailSender | None = None,
    sms_sender: SmsSender | None = None,
) -> AsyncIterator[NotificationsService]:
    """Start everything (consumers, and the worker when `worker_enabled`); stop it all on exit.

    Weak secrets stop it first, before any connection (see `check_secrets`).
    """
    check_secrets(settings)
    clock = clock or SystemClock()
    policy = settings.policy()
    metrics = Metrics()
    store = Store(OutcomeEvents(settings.event_source), settings.contact_cipher(), settings.pseudonymizer())
    renderer = Renderer(
        site_base_url=settings.site_base_url,
        public_base_url=settings.public_base_url,
        signing_secret=settings.signing_secret.get_secret_value(),
        stop_number=settings.sms_stop_number,
    )
    own_email = email_sender is None
    own_sms = sms_sender is None
    email = email_sender or make_email_sender(settings)
    sms = sms_sender or make_sms_sender(settings)
    async with create_pool(
        settings.database_url,
        migrations=[("notifications", MIGRATIONS)],
        max_size=settings.database_pool_size,
    ) as pool:
        async with pool.acquire() as conn:
            converted = await store.pseudonymize_processed(conn)
        if converted:
            log.info("processed_events.pseudonymized", rows=converted)
        broker = make_broker(settings.kafka_bootstrap, client_id=settings.service_name)
        publisher = EventPublisher(broker)
        worker = DeliveryWorker(
            pool=pool,
            store=store,
            renderer=renderer,
            email=email,
            sms=sms,
            publisher=publisher,
            clock=clock,
            policy=policy,
            backoff=Backoff(settings.retry_initial_s, settings.retry_max_s, settings.retry_max_attempts),
            metrics=metrics,
            batch=settings.worker_batch,
            lease_s=settings.lease_s,
            email_concurrency=settings.smtp_connections,
            sms_concurrency=settings.sms_concurrency,
        )
        consumer = EventConsumer(
            broker,
            DeadLetterPublisher(broker, settings.consumer_group_prefix),
            RetryPolicy(
                initial_s=settings.consumer_retry_initial_s,
                max_s=settings.consumer_retry_max_s,
                max_attempts=settings.consumer_max_attempts,
            ),
        )
        Handlers(
            pool,
            store,
            clock,
            policy,
            settings.consumer_group_prefix,
            on_planned=worker.wake.set,
            metrics=metrics,
        ).register(consumer)
        consent = ConsentService(pool, store, publisher, clock, settings.event_source, metrics)
        app = create_app(
            title="Vocation notifications",
            distribution="vocation-notifications",
            description="The unsubscribe page and endpoint, and the inbound SMS webhook. Errors in French.",
            language="fr",
            render=render_problem,
        )
        app.include_router(
            operations_router([kafka_reachable(broker), postgres_reachable(pool)], registry=metrics.registry)
        )
        throttle = FailureThrottle(settings.public_failures_per_minute, settings.public_failures_burst)
        app.include_router(
            api_router(consent, settings.signing_secrets(), settings.sms_inbound_token, throttle)
        )
        app.add_middleware(BodyLimit, paths=PUBLIC_PATHS, limit=settings.public_body_limit)
        service = NotificationsService(
            settings, app, pool, broker, store, worker, consent, metrics, renderer, email, sms
        )
        stop = asyncio.Event()
        task: asyncio.Task[None] | None = None
        await broker.start()
        try:
            if settings.worker_enabled:
                task = asyncio.create_task(
                    worker.run(stop, settings.worker_poll_s, settings.worker_lanes), name="delivery-worker"
                )
            retention = Retention(pool, [PROCESSED_EVENTS, FINISHED_NOTIFICATIONS], settings.retention())
            async with pruning(retention, settings.retention_every_s):
                yield service
        finally:
            stop.set()
            if task is not None:
                await task
            await broker.stop()
            if own_email:
                await email.aclose()
            if own_sms:
                await sms.aclose()
