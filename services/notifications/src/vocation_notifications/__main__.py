"""`python -m vocation_notifications`: logging, then the service on 127.0.0.1:8083 until stopped."""

from __future__ import annotations

import asyncio

from pydantic import ValidationError
from vocation_shared.http import serve
from vocation_shared.logs import configure_logging, get_logger
from vocation_shared.runtime import tune_for_throughput

from vocation_notifications.app import running_service
from vocation_notifications.settings import NotificationsSettings


def load_settings() -> NotificationsSettings:
    """The settings from the environment; a bad value stops the process with one line per error."""
    try:
        return NotificationsSettings()
    except ValidationError as exc:
        lines = [
            f"VOCATION_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors(include_input=False)
        ]
        raise SystemExit("\n".join(lines)) from None


async def main() -> None:
    """Run the service until SIGINT/SIGTERM (weak secrets stop it before any connection)."""
    settings = load_settings()
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    tune_for_throughput()
    async with running_service(settings) as service:
        if not settings.email_events_url:
            get_logger(__name__).warning(
                "settings.email_at_least_once",
                hint="set VOCATION_EMAIL_EVENTS_URL: without the provider's log, a crash may send an email twice",
            )
        await serve(
            service.app,
            settings.http_host,
            settings.http_port,
            forwarded_allow_ips=settings.trusted_networks(),
        )


if __name__ == "__main__":
    asyncio.run(main())
