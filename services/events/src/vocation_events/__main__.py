"""`python -m vocation_events`: the partner gateway and the event archive, until SIGINT/SIGTERM."""

from __future__ import annotations

from vocation_shared.http.serve import load_settings, prepare_process, run_service

from vocation_events.app import running_service
from vocation_events.settings import EventsSettings


def worker_settings(settings: EventsSettings, index: int) -> EventsSettings:
    """Every worker ingests; only the first archives and sends webhooks (one consumer of each)."""
    if index == 0:
        return settings
    return settings.model_copy(update={"archive_enabled": False, "webhooks_enabled": False})


def main() -> None:
    """Serve the gateway in `http_workers` supervised processes (one: this process)."""
    settings = load_settings(EventsSettings)
    # Without contacts keys the archive would hold names, emails and phones in clear: only in
    # development mode (then it says so). The collector off the hot path: about 40 % of the
    # gateway's CPU in the benchmark otherwise.
    prepare_process(settings, settings.secret_problems(), gen0_threshold=settings.gc_gen0_threshold)
    run_service(
        settings,
        running_service,
        workers=settings.http_workers,
        worker_settings=worker_settings,
    )


if __name__ == "__main__":
    main()
