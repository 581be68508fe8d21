"""`python -m vocation_catalogue`: the catalogue's consumers and its HTTP API, until SIGINT/SIGTERM."""

from __future__ import annotations

from vocation_shared.http.serve import load_settings, prepare_process, run_service

from vocation_catalogue.app import running_service
from vocation_catalogue.settings import CatalogueSettings


def main() -> None:
    """Serve the catalogue in this process."""
    settings = load_settings(CatalogueSettings)
    # The pseudonym key of its erasure ledger and the link key of its pages fail closed; in
    # development mode, it says so.
    prepare_process(settings, [settings.pseudonym_key_problem(), settings.link_key_problem()])
    run_service(settings, running_service)


if __name__ == "__main__":
    main()
