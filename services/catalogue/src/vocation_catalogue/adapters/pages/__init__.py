"""The HTML pages people open from a message: the offer page and the signed links' pages (issue 14)."""

from __future__ import annotations

from fastapi import APIRouter

from vocation_catalogue.adapters.pages.routes import create_pages_router
from vocation_catalogue.ports import ApplicationDesk, OfferSearch
from vocation_catalogue.settings import CatalogueSettings


def pages_router(settings: CatalogueSettings, desk: ApplicationDesk, search: OfferSearch) -> APIRouter:
    """The pages on the deployment's link keys and renewal address (forged links: 20 at once, then 10 a minute)."""
    return create_pages_router(desk, search, settings.link_signer(), settings.links_renewal_url)


__all__ = ["create_pages_router", "pages_router"]
