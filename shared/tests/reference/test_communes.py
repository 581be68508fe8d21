"""Communes reference data: lookups, autocomplete, great-circle distances."""

from __future__ import annotations

import math

import pytest
from vocation_shared.reference import (
    EARTH_RADIUS_KM,
    UnknownCodeError,
    communes,
    distance_km,
    haversine_km,
)

pytestmark = pytest.mark.unit

BOURG_EN_BRESSE = (46.20513, 5.22523)  # 01053, from communes.csv
AMBERIEU_EN_BUGEY = (45.95814, 5.35893)  # 01004, from communes.csv


def chord_distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance through the chord between unit vectors (not the haversine)."""

    def unit(lat: float, lon: float) -> tuple[float, float, float]:
        phi, lam = math.radians(lat), math.radians(lon)
        return (math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi))

    chord = math.dist(unit(lat1, lon1), unit(lat2, lon2))
    return 2 * EARTH_RADIUS_KM * math.asin(chord / 2)


def test_known_communes() -> None:
    bourg = communes().get("01053")
    assert bourg is not None
    assert bourg.name == "Bourg-en-Bresse"
    assert bourg.departement == "01"
    assert bourg.region == "84"
    assert bourg.postal_codes == ("01000",)
    assert bourg.type == "commune"
    assert bourg.position == BOURG_EN_BRESSE
    mont = communes().get("40192")
    assert mont is not None
    assert mont.name == "Mont-de-Marsan"
    assert mont.departement == "40"
    assert communes().get("2a004") == communes().get("2A004")
    assert len(communes()) == 35_014


def test_unknown_commune() -> None:
    assert communes().get("99999") is None
    assert "99999" not in communes()
    assert None not in communes()
    with pytest.raises(UnknownCodeError, match="unknown INSEE commune code '99999'"):
        distance_km("01053", "99999")


def test_a_position_is_finite_or_unknown() -> None:
    # The source writes "nan" for Lanester's position: it must read as unknown, never as NaN.
    lanester = communes().get("56098")
    assert lanester is not None and lanester.position is None
    for commune in communes().all():
        assert commune.position is None or all(math.isfinite(x) for x in commune.position)


def test_arrondissements_know_their_city() -> None:
    first = communes().get("75101")
    assert first is not None
    assert first.type == "arrondissement"
    assert first.city_insee == "75056"
    lyon = communes().get("69381")
    assert lyon is not None
    assert lyon.city_insee == "69123"
    assert communes().get("01053") is not None
    assert sum(c.type == "arrondissement" for c in communes().all()) == 45


def test_in_departement() -> None:
    ain = communes().in_departement("01")
    assert {c.departement for c in ain} == {"01"}
    assert "01053" in {c.insee for c in ain}
    assert communes().in_departement("1") == ain
    assert [c.insee for c in ain] == sorted(c.insee for c in ain)
    assert communes().in_departement("2a")
    assert communes().in_departement("00") == []


def test_search_by_name_prefix() -> None:
    assert communes().search("bourg en b")[0].insee == "01053"
    assert communes().search("Bourg-en-Bresse")[0].insee == "01053"
    assert communes().search("BOURG EN BRESSE")[0].insee == "01053"
    assert communes().search("mont de mars")[0].insee == "40192"
    assert communes().search("") == []
    assert communes().search("bourg", limit=0) == []
    assert len(communes().search("bourg", limit=3)) == 3


def test_search_tolerates_saint_and_articles() -> None:
    for query in ("st etienne", "saint-étienne", "St-Étienne", "SAINT ETIENNE"):
        assert communes().search(query)[0].insee == "42218", query
    assert "01001" in {c.insee for c in communes().search("abergement clem")}
    assert communes().search("l'hay les")[0].name == "L'Haÿ-les-Roses"


def test_search_ranks_exact_name_then_population() -> None:
    paris = communes().search("paris", limit=5)
    assert paris[0].insee == "75056"
    populations = [c.population or 0 for c in paris[1:]]
    assert populations == sorted(populations, reverse=True)
    assert all(c.type == "commune" for c in communes().search("paris", include_arrondissements=False))


def test_search_by_postal_code() -> None:
    assert communes().search("40000")[0].insee == "40192"
    assert "01053" in {c.insee for c in communes().search("0100")}
    assert [c.insee for c in communes().with_postal_code("75001")] == ["75056", "75101"]
    assert communes().with_postal_code("00000") == []


def test_haversine_known_values() -> None:
    one_degree = EARTH_RADIUS_KM * math.pi / 180
    assert haversine_km(0.0, 0.0, 0.0, 1.0) == pytest.approx(one_degree, rel=1e-12)
    assert haversine_km(0.0, 0.0, 1.0, 0.0) == pytest.approx(one_degree, rel=1e-12)
    assert haversine_km(45.0, 5.0, 45.0, 5.0) == 0.0
    assert haversine_km(0.0, 0.0, 0.0, 180.0) == pytest.approx(math.pi * EARTH_RADIUS_KM)


def test_distance_bourg_en_bresse_amberieu() -> None:
    expected = chord_distance_km(*BOURG_EN_BRESSE, *AMBERIEU_EN_BUGEY)
    assert 25 < expected < 30
    assert haversine_km(*BOURG_EN_BRESSE, *AMBERIEU_EN_BUGEY) == pytest.approx(expected, abs=1e-6)
    distance = distance_km("01053", "01004")
    assert distance is not None
    assert distance == pytest.approx(expected, abs=1e-6)
    assert distance_km("01004", "01053") == pytest.approx(distance)


def test_distance_without_position_is_none() -> None:
    nowhere = next(c for c in communes().all() if c.position is None)
    assert distance_km(nowhere.insee, "01053") is None
    # 130 empty in the source, Lanester "nan", 41 of the 66 outside their département (see
    # build_reference.py; the other 25 had a longitude with its sign flipped, mended)
    assert sum(c.position is None for c in communes().all()) == 172


@pytest.mark.parametrize(
    "insee",
    ["55541", "77108", "40040"],  # lon = lat, 40 km off, flipped but still 80 km from its neighbours
)
def test_a_position_outside_its_departement_is_unknown(insee: str) -> None:
    commune = communes().get(insee)
    assert commune is not None and commune.position is None


@pytest.mark.parametrize(
    ("insee", "latitude", "longitude"),
    [("22362", 48.7895, -3.2309), ("17153", 46.24973, -1.11581), ("56243", 47.6199, -2.73743)],
)
def test_a_longitude_with_its_sign_flipped_is_mended(insee: str, latitude: float, longitude: float) -> None:
    """Tréguier, Esnandes and Séné: the source has +3.23°, +1.12°, +2.74°; they lie west of Greenwich."""
    commune = communes().get(insee)
    assert commune is not None and commune.position is not None
    assert commune.position == (latitude, longitude)
