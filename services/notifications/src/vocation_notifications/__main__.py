"""`python -m vocation_notifications`: logging, then the service on 127.0.0.1:8083 until stopped."""

from __future__ import annotations

import asyncio

from vocation_shared.http import serve
from vocation_shared.logs import configure_logging, get_logger
from vocation_shared.runtime import tune_for_throughput

from vocation_notifications.app import running_service
from vocation_notifications.settings import DEFAULT_SECRET, NotificationsSettings


async def main() -> None:
    """Run the service until SIGINT/SIGTERM."""
    settings = NotificationsSettings()
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    tune_for_throughput()
    if settings.signing_secret.get_secret_value() == DEFAULT_SECRET:
        get_logger(__name__).warning("settings.default_signing_secret", hint="set VOCATION_SIGNING_SECRET")
    if settings.contacts_keys is None:
        get_logger(__name__).warning("settings.contacts_stored_in_clear", hint="set VOCATION_CONTACTS_KEYS")
    if not settings.email_events_url:
        get_logger(__name__).warning(
            "settings.email_at_least_once",
            hint="set VOCATION_EMAIL_EVENTS_URL: without the provider's log, a crash may send an email twice",
        )
    async with running_service(settings) as service:
        await serve(service.app, settings.http_host, settings.http_port)


if __name__ == "__main__":
    asyncio.run(main())
