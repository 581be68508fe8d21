"""A miniature of the open data for `test_build.py`: a few métiers and two départements, whole.

The full open data (ROME 4.60 and 3.44, communes: 18 MB) lives outside the repository, so a
clean clone could not rebuild the reference files. This sample keeps, of each source file the
build script reads, the rows about the métiers of `METIERS` (and their ROME 3 fiches) and the
communes of `DEPARTEMENTS`, and only the columns the script reads; small tables are kept whole.
The build of the sample must give, for those métiers and communes, exactly what the committed
reference files hold. Regenerate with `python shared/tests/reference/open_data_sample.py [SOURCE]`.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent / "open_data_sample"
METIERS = ("A1101", "J1501", "J1506", "K1207", "K1306", "K1311")
DEPARTEMENTS = ("01", "40")

Row = dict[str, str]


def _read(path: Path) -> list[Row]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _write(path: Path, rows: Iterable[Row], columns: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore", quoting=csv.QUOTE_MINIMAL)
        writer.writeheader()
        writer.writerows(rows)


def make_sample(source: Path, out: Path = SAMPLE) -> None:
    """Write the sample of the open data in `source` into `out`."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "build_reference", Path(__file__).resolve().parents[2] / "scripts" / "build_reference.py"
    )
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    v4, v3 = build.V4_FILES, build.V3_FILES
    chosen = set(METIERS)

    def keep(relative: str, columns: list[str], wanted: Callable[[Row], bool] = lambda _: True) -> list[Row]:
        rows = [row for row in _read(source / relative) if wanted(row)]
        _write(out / relative, rows, columns)
        return rows

    fiches = keep(v4["code_rome"], ["code_rome", "libelle_rome", "emploi_reglemente", "code_rome_parent"])
    keep(v4["cr_gd_dp"], ["code_rome", "code_domaine_professionel"])
    keep(v4["grand_domaine"], ["code_grand_domaine", "libelle_grand_domaine"])
    keep(v4["domaine"], ["code_domaine_professionnel", "libelle_domaine_professionnel"])
    keep(v4["contexte"], ["code_ogr", "libelle_cont_travail", "libelle_type_cont_trav"])
    about = lambda row: row["code_rome"] in chosen  # noqa: E731
    keep(v4["texte"], ["code_rome", "libelle_type_texte", "position_phrase", "libelle_texte"], about)
    keep(v4["mobilite"], ["code_rome", "code_rome_cible", "numero_ordre"], about)
    links = keep(v4["liens"], ["code_rome", "code_compo_bloc", "code_rubrique", "code_ogr"], about)
    skills = {row["code_ogr"] for row in links if row["code_compo_bloc"] == "5"}
    keep(v4["competence"], ["code_ogr", "libelle_competence"], lambda row: row["code_ogr"] in skills)
    keep(v4["savoir"], ["code_ogr_savoir", "libelle_savoir"], lambda row: row["code_ogr_savoir"] in skills)
    keep(v4["coherence"], ["code_rome", "code_ogr", "coeur_metier"], about)
    # ROME 3: the fiches are kept whole (each needs a v4 successor); the appellations of the
    # chosen métiers' fiches, and their v4 appellations too (where each went).
    parents = {row["code_rome_parent"] for row in fiches if row["code_rome"] in chosen}
    keep(v3["code_rome"], ["code_rome", "libelle_rome"])
    keep(
        v3["cr_gd_dp"],
        [
            "code_rome",
            "code_grand_domaine",
            "libelle_grand_domaine",
            "code_domaine_professionel",
            "libelle_domaine_professionel",
        ],
    )
    old = keep(v3["appellation"], ["code_ogr", "code_rome"], lambda row: row["code_rome"] in parents)
    ogrs = {row["code_ogr"] for row in old}
    keep(
        v4["appellation"],
        ["code_ogr", "libelle_appellation_long", "libelle_appellation_court", "code_rome", "peu_usite"],
        lambda row: row["code_rome"] in chosen or row["code_ogr"] in ogrs,
    )
    keep(
        build.COMMUNES_FILE,
        [
            "insee",
            "nom",
            "departement",
            "region",
            "codes_postaux",
            "population",
            "latitude",
            "longitude",
            "type",
        ],
        lambda row: row["departement"] in DEPARTEMENTS,
    )


if __name__ == "__main__":
    make_sample(
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[4] / "shared" / "data"
    )
