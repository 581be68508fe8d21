"""The HTML pages people open from a message: the offer page and the signed links' pages (issue 14)."""

from __future__ import annotations

from fastapi import APIRouter
from vocation_shared.http.throttle import FailureThrottle

from vocation_catalogue.adapters.pages.routes import create_pages_router
from vocation_catalogue.ports import ApplicationDesk, OfferSearch
from vocation_catalogue.settings import CatalogueSettings


def pages_router(settings: CatalogueSettings, desk: ApplicationDesk, search: OfferSearch) -> APIRouter:
    """The pages on the deployment's link keys, renewal address and failure throttle."""
    throttle = FailureThrottle(settings.public_failures_per_minute, settings.public_failures_burst)
    return create_pages_router(
        desk, search, settings.link_signer(), settings.links_renewal_url, throttle=throttle
    )


__all__ = ["create_pages_router", "pages_router"]
