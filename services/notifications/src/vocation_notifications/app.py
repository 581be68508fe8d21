"""The composition root: `NotificationsService` builds the pool, broker, consumers, senders, worker and
HTTP app, and closes them together."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from types import TracebackType
from typing import Self

from aiokafka.errors import KafkaError
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from vocation_shared.http import create_app, kafka_reachable, operations_router, postgres_reachable
from vocation_shared.kafka import DeadLetterPublisher, EventConsumer, EventPublisher, make_broker
from vocation_shared.logs import get_logger
from vocation_shared.postgres import create_pool
from vocation_shared.postgres.outbox import OutboxRelay
from vocation_shared.postgres.retention import PROCESSED_EVENTS, Retention, pruning
from vocation_shared.secrets import fail_closed

from vocation_notifications.adapters.email_events import BrevoEmailEvents
from vocation_notifications.adapters.http_api import PUBLIC_PATHS, api_router
from vocation_notifications.adapters.kafka import subscribe
from vocation_notifications.adapters.metrics import PrometheusMetrics
from vocation_notifications.adapters.postgres import UNAVAILABLE, Pool
from vocation_notifications.adapters.postgres.event_outbox import OUTCOME_EVENTS
from vocation_notifications.adapters.postgres.outbox import FINISHED_NOTIFICATIONS
from vocation_notifications.adapters.postgres.unit_of_work import PostgresUnitsOfWork
from vocation_notifications.adapters.public_http import BodyLimit, render_problem
from vocation_notifications.adapters.sms import BrevoSmsSender, LocalSmsSink
from vocation_notifications.adapters.smtp import SmtpEmailSender
from vocation_notifications.adapters.templates import Renderer
from vocation_notifications.core.facts import OutcomeEvents
from vocation_notifications.core.throttle import FailureThrottle
from vocation_notifications.delivery import DeliveryWorker
from vocation_notifications.handlers import Handlers
from vocation_notifications.ports import Clock, EmailSender, SmsSender, SystemClock
from vocation_notifications.settings import NotificationsSettings

MIGRATIONS = Path(__file__).parent / "migrations"
log = get_logger(__name__)
DEPENDENCY_ERRORS = (OSError, TimeoutError, *UNAVAILABLE, KafkaError)
"""What the delivery worker logs as a dependency being down (then goes on), not as a bug."""


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


class NotificationsService:
    """The running service: `async with NotificationsService(settings) as service:` starts the
    consumers, the delivery worker (when `worker_enabled`) and the retention; `service.http` is the
    ASGI app to serve. Everything stops on exit. Weak secrets stop it first, before any connection.

    Its parts stay reachable (`units`, `relay`, `handlers`, `worker`, `pool`, `broker`, `metrics`…): the
    tests and the benchmark drive them.
    """

    http: FastAPI
    pool: Pool
    broker: KafkaBroker
    units: PostgresUnitsOfWork
    relay: OutboxRelay
    handlers: Handlers
    worker: DeliveryWorker

    def __init__(
        self,
        settings: NotificationsSettings,
        *,
        clock: Clock | None = None,
        email_sender: EmailSender | None = None,
        sms_sender: SmsSender | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.metrics = PrometheusMetrics()
        self.facts = OutcomeEvents(settings.event_source)
        self.pseudonyms = settings.pseudonymizer()
        self.renderer = Renderer(
            site_base_url=settings.site_base_url,
            public_base_url=settings.public_base_url,
            stop_number=settings.sms_stop_number,
            link_signer=settings.link_signer(),
        )
        self._email_sender = email_sender
        self._sms_sender = sms_sender
        self._stack = contextlib.AsyncExitStack()

    @property
    def consent(self) -> Handlers:
        """The opt-out commands the public routes call."""
        return self.handlers

    async def __aenter__(self) -> Self:
        check_secrets(self.settings)
        try:
            await self._start(self._stack)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        settings = self.settings
        policy = settings.policy()
        self.email = self._email_sender or make_email_sender(settings)
        if self._email_sender is None:
            stack.push_async_callback(self.email.aclose)
        self.sms = self._sms_sender or make_sms_sender(settings)
        if self._sms_sender is None:
            stack.push_async_callback(self.sms.aclose)
        self.pool = await stack.enter_async_context(
            create_pool(
                settings.database_url,
                migrations=[("notifications", MIGRATIONS)],
                max_size=settings.database_pool_size,
            )
        )
        self.units = PostgresUnitsOfWork(self.pool, settings.contact_cipher())
        converted = await self.pseudonymize_processed()
        if converted:
            log.info("processed_events.pseudonymized", rows=converted)
        self.broker = make_broker(settings.kafka_bootstrap, client_id=settings.service_name)
        publisher = EventPublisher(self.broker)
        self.relay = OutboxRelay(self.pool, OUTCOME_EVENTS, publisher)
        self.worker = DeliveryWorker(
            units=self.units,
            facts=self.facts,
            renderer=self.renderer,
            email=self.email,
            sms=self.sms,
            relay=self.relay,
            clock=self.clock,
            policy=policy,
            backoff=settings.delivery_backoff(),
            metrics=self.metrics,
            batch=settings.worker_batch,
            lease_s=settings.lease_s,
            email_concurrency=settings.smtp_connections,
            sms_concurrency=settings.sms_concurrency,
            dependency_errors=DEPENDENCY_ERRORS,
        )
        consumer = EventConsumer(
            self.broker,
            DeadLetterPublisher(self.broker, settings.consumer_group),
            settings.retry_policy(),
        )
        self.handlers = Handlers(
            self.units,
            self.facts,
            self.clock,
            policy,
            settings.consumer_group,
            publisher=publisher,
            pseudonyms=self.pseudonyms,
            on_planned=self.worker.wake.set,
            metrics=self.metrics,
        )
        subscribe(consumer, self.handlers)
        self.http = create_app(
            title="Vocation notifications",
            distribution="vocation-notifications",
            description=(
                "The unsubscribe page and endpoint, the renewal of an expired personal link, and the"
                " inbound SMS webhook. Errors in French."
            ),
            language="fr",
            render=render_problem,
        )
        self.http.include_router(
            operations_router(
                [kafka_reachable(self.broker), postgres_reachable(self.pool)], registry=self.metrics.registry
            )
        )
        throttle = FailureThrottle(settings.public_failures_per_minute, settings.public_failures_burst)
        self.http.include_router(
            api_router(
                self.handlers,
                settings.signing_secrets(),
                settings.sms_inbound_token,
                throttle,
                links=settings.link_signer(),
            )
        )
        self.http.add_middleware(BodyLimit, paths=PUBLIC_PATHS, limit=settings.public_body_limit)
        await self.broker.start()
        stack.push_async_callback(self.broker.stop)
        if settings.worker_enabled:
            stop = asyncio.Event()
            task = asyncio.create_task(
                self.worker.run(stop, settings.worker_poll_s, settings.worker_lanes), name="delivery-worker"
            )

            async def stop_worker() -> None:
                stop.set()
                await task

            stack.push_async_callback(stop_worker)
        retention = Retention(self.pool, [PROCESSED_EVENTS, FINISHED_NOTIFICATIONS], settings.retention())
        await stack.enter_async_context(pruning(retention, settings.retention_every_s))

    async def pseudonymize_processed(self, chunk: int = 10_000) -> int:
        """Rewrite the processed marks written before pseudonyms, one unit of work per chunk; how many
        (idempotent: run at start, before the consumers)."""
        converted = 0
        while done := await self._pseudonymize_chunk(chunk):
            converted += done
        return converted

    async def _pseudonymize_chunk(self, chunk: int) -> int:
        async with self.units() as uow:
            return await uow.processed.pseudonymize_bare(
                lambda event_id: self.pseudonyms.of("event", event_id), chunk
            )


def running_service(
    settings: NotificationsSettings,
    *,
    clock: Clock | None = None,
    email_sender: EmailSender | None = None,
    sms_sender: SmsSender | None = None,
) -> NotificationsService:
    """The service to enter (`async with running_service(settings) as service`), as in every service."""
    return NotificationsService(settings, clock=clock, email_sender=email_sender, sms_sender=sms_sender)
