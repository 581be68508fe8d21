"""`python -m vocation_notifications`: the notifications service and its public pages, until SIGINT/SIGTERM."""

from __future__ import annotations

from vocation_shared.http.serve import load_settings, prepare_process, run_service
from vocation_shared.logs import get_logger

from vocation_notifications.app import NotificationsService, running_service
from vocation_notifications.settings import NotificationsSettings


def _started(service: NotificationsService) -> None:
    if not service.settings.email_events_url:
        get_logger(__name__).warning(
            "settings.email_at_least_once",
            hint="set VOCATION_EMAIL_EVENTS_URL: without the provider's log, a crash may send an email twice",
        )


def main() -> None:
    """Serve the notifications service in this process (weak secrets stop it before any connection)."""
    settings = load_settings(NotificationsSettings)
    prepare_process(settings, settings.secret_problems())
    run_service(
        settings,
        running_service,
        forwarded_allow_ips=settings.trusted_networks(),
        on_started=_started,
    )


if __name__ == "__main__":
    main()
