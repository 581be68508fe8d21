"""`python -m vocation_matching`: the matching service and its HTTP endpoints, until SIGINT/SIGTERM."""

from __future__ import annotations

from vocation_shared.http.serve import load_settings, prepare_process, run_service

from vocation_matching.app import running_service
from vocation_matching.settings import MatchingSettings


def main() -> None:
    """Serve the matching service in this process."""
    settings = load_settings(MatchingSettings)
    prepare_process(settings)  # no secret of its own yet; in development mode, it says so
    run_service(settings, running_service)


if __name__ == "__main__":
    main()
