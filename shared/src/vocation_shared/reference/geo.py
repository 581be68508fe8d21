"""Great-circle distances between positions and between communes."""

from __future__ import annotations

from math import asin, cos, radians, sin, sqrt

from vocation_shared.reference._common import UnknownCodeError
from vocation_shared.reference.commune import communes

EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG), in kilometres."""


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two WGS84 positions given in degrees."""
    phi1, phi2 = radians(lat1), radians(lat2)
    dphi = phi2 - phi1
    dlambda = radians(lon2 - lon1)
    h = sin(dphi / 2) ** 2 + cos(phi1) * cos(phi2) * sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * asin(min(1.0, sqrt(h)))


def distance_km(insee_a: str, insee_b: str) -> float | None:
    """Great-circle distance in km between two communes' positions.

    None when either commune has no known position (about 130 communes, mostly overseas
    collectivities). Raises UnknownCodeError for an unknown INSEE code.
    """
    table = communes()
    a, b = table.get(insee_a), table.get(insee_b)
    if a is None:
        raise UnknownCodeError("INSEE commune", insee_a)
    if b is None:
        raise UnknownCodeError("INSEE commune", insee_b)
    pa, pb = a.position, b.position
    if pa is None or pb is None:
        return None
    return haversine_km(pa[0], pa[1], pb[0], pb[1])
