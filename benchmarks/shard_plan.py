"""The numbers behind docs/scaling.md: candidate index shards by département, how many an offer needs.

Not a speed benchmark: it reads the real communes (positions, populations) and answers, for an
offer placed where people live (communes drawn by population), how many départements have a
commune within reach at each radius, what share of the population (≈ candidates) they hold,
and how large the largest shard would be. Run: `python -m benchmarks shard_plan`.
"""

from __future__ import annotations

import numpy as np
from vocation_shared.reference import EARTH_RADIUS_KM, communes

RADII_KM = (30, 50, 100, 150, 200)
"""200 km is the contract's largest mobility radius (`mobility_radius_km` ≤ 200)."""
SAMPLES = 3000
INDEX_BYTES_PER_CANDIDATE = 705
"""RSS per indexed candidate, process total, from the matching benchmark (1,000,000 in 705 MB)."""
SCENARIOS = (1_000_000, 5_000_000, 10_000_000)
RSS_BAR_BYTES = 1.5e9


def _positions(by: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Latitudes and longitudes in radians, populations, territory index of each commune, territories.

    `by` is the commune's attribute naming its territory: `departement` or `region`.
    """
    # Arrondissements rather than their city (Paris, Lyon, Marseille): finer places, no double count.
    cities = {c.city_insee for c in communes().all() if c.type == "arrondissement"}
    rows = [
        c
        for c in communes().all()
        if c.latitude is not None and c.longitude is not None and c.population and c.insee not in cities
    ]
    territories = sorted({getattr(c, by) for c in rows})
    index = {t: i for i, t in enumerate(territories)}
    lat = np.radians(np.array([c.latitude for c in rows], dtype=np.float64))
    lon = np.radians(np.array([c.longitude for c in rows], dtype=np.float64))
    population = np.array([c.population for c in rows], dtype=np.float64)
    territory = np.array([index[getattr(c, by)] for c in rows], dtype=np.int64)
    return lat, lon, population, territory, territories


def _spread(values: np.ndarray) -> dict[str, float]:
    return {
        "mean": round(float(values.mean()), 2),
        "p50": round(float(np.percentile(values, 50)), 2),
        "p95": round(float(np.percentile(values, 95)), 2),
        "max": round(float(values.max()), 2),
    }


def _plan(by: str) -> dict[str, object]:
    """Fan-out of an offer over the shards of one territory each, and the largest shard's size."""
    lat, lon, population, territory, territories = _positions(by)
    shares = np.bincount(territory, weights=population, minlength=len(territories)) / population.sum()
    rng = np.random.default_rng(20261201)
    offers = rng.choice(len(lat), size=SAMPLES, p=population / population.sum())
    reached: dict[int, list[int]] = {r: [] for r in RADII_KM}
    covered: dict[int, list[float]] = {r: [] for r in RADII_KM}
    for row in offers:
        # Haversine from the offer's commune to every commune.
        half_dlat = (lat - lat[row]) / 2
        half_dlon = (lon - lon[row]) / 2
        h = np.sin(half_dlat) ** 2 + np.cos(lat[row]) * np.cos(lat) * np.sin(half_dlon) ** 2
        km = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(h, 1.0)))
        for radius in RADII_KM:
            near = np.unique(territory[km <= radius])
            reached[radius].append(len(near))
            covered[radius].append(float(shares[near].sum()))
    largest = int(np.argmax(shares))
    return {
        "shards": len(territories),
        "largest": territories[largest],
        "largest_share": round(float(shares[largest]), 4),
        "fan_out": {r: _spread(np.array(reached[r])) for r in RADII_KM},
        "population_share_within_reach": {r: _spread(np.array(covered[r])) for r in RADII_KM},
        "largest_shard_rss_mb": {
            n: round(n * float(shares[largest]) * INDEX_BYTES_PER_CANDIDATE / 1e6) for n in SCENARIOS
        },
    }


def main() -> dict[str, object]:
    """Shards by département and by region; one index for comparison."""
    figures: dict[str, object] = {
        "offers_sampled": SAMPLES,
        "by_departement": _plan("departement"),
        "by_region": _plan("region"),
        "one_index_rss_mb": {n: round(n * INDEX_BYTES_PER_CANDIDATE / 1e6) for n in SCENARIOS},
        "one_index_fits_bar": {n: n * INDEX_BYTES_PER_CANDIDATE <= RSS_BAR_BYTES for n in SCENARIOS},
    }
    print(f"shard_plan: {figures}", flush=True)
    return figures


if __name__ == "__main__":
    main()
