"""Where an offer is: its commune, département and position (explicit, else the town hall)."""

from __future__ import annotations

from dataclasses import dataclass

from vocation_shared.contracts.payloads import Position
from vocation_shared.reference import communes


@dataclass(frozen=True, slots=True)
class Place:
    """The location columns of a read-model row."""

    commune_insee: str
    departement: str
    lat: float | None
    lon: float | None


def locate(commune_insee: str, position: Position | None) -> Place:
    """The place of an offer: an explicit position wins over the commune's town hall."""
    commune = communes().get(commune_insee)
    departement = commune.departement if commune is not None else commune_insee[:2]
    if position is not None:
        return Place(commune_insee, departement, position.lat, position.lon)
    if commune is None or commune.position is None:
        return Place(commune_insee, departement, None, None)
    return Place(commune_insee, departement, commune.position[0], commune.position[1])
