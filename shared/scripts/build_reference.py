"""Build the compact reference data files of vocation_shared.reference from the open data."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import math
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SOURCE = (REPO_ROOT / ".." / "shared" / "data").resolve()
DEFAULT_OUT = REPO_ROOT / "shared" / "src" / "vocation_shared" / "reference" / "data"

FORMAT = 1
V4 = "rome_v460"
V3 = "rome_v344"
V4_FILES = {
    "code_rome": f"{V4}/unix_referentiel_code_rome_v460_utf8.csv",
    "appellation": f"{V4}/unix_referentiel_appellation_v460_utf8.csv",
    "mobilite": f"{V4}/unix_rubrique_mobilite_v460_utf8.csv",
    "competence": f"{V4}/unix_referentiel_competence_v460_utf8.csv",
    "savoir": f"{V4}/unix_referentiel_savoir_v460_utf8.csv",
    "contexte": f"{V4}/unix_referentiel_contexte_travail_v460_utf8.csv",
    "texte": f"{V4}/unix_texte_v460_utf8.csv",
    "liens": f"{V4}/unix_liens_rome_referentiels_v460_utf8.csv",
    "coherence": f"{V4}/unix_coherence_item_v460_utf8.csv",
    "cr_gd_dp": f"{V4}/unix_cr_gd_dp_v460_utf8.csv",
    "grand_domaine": f"{V4}/unix_grand_domaine_v460_utf8.csv",
    "domaine": f"{V4}/unix_domaine_professionnel_v460_utf8.csv",
}
V3_FILES = {
    "code_rome": f"{V3}/3-referentiel_code_rome_v344_utf8.csv",
    "cr_gd_dp": f"{V3}/20-cr_gd_dp_v344_utf8.csv",
    "appellation": f"{V3}/9-referentiel_appellation_v344_utf8.csv",
}
COMMUNES_FILE = "communes.csv"

# liens_rome_referentiels: bloc 5 = skills (rubrique 1 savoir-faire, 2 savoir-être, 3 savoirs),
# bloc 6 = work contexts.
SKILL_KINDS = {"1": "savoir-faire", "2": "savoir-être", "3": "savoir"}
REGULATED = {"O": True, "N": False, "": None}


class SourceError(Exception):
    """The open data does not have the shape this script expects."""


def _read(source: Path, relative: str) -> list[dict[str, str]]:
    path = source / relative
    if not path.is_file():
        raise SourceError(f"missing source file {path}")
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _sha256(source: Path, relatives: Iterable[str]) -> dict[str, str]:
    return {rel: hashlib.sha256((source / rel).read_bytes()).hexdigest() for rel in sorted(relatives)}


def _text(value: str) -> str:
    """Undo the source's SQL-style doubled apostrophes (``L''aide-soignant``)."""
    return value.replace("''", "'")


def _sorted_by_label(codes: Iterable[str], labels: dict[str, str]) -> list[str]:
    return sorted(codes, key=lambda code: (labels[code].casefold(), code))


def build_rome_v4(source: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ROME 4 métiers file and the ROME 4 skills file, as JSON-ready objects."""
    fiches = _read(source, V4_FILES["code_rome"])
    codes = sorted(row["code_rome"] for row in fiches)
    known = set(codes)
    domains = {row["code_rome"]: row for row in _read(source, V4_FILES["cr_gd_dp"])}
    if set(domains) != known:
        raise SourceError("cr_gd_dp and referentiel_code_rome list different métiers")

    definition: dict[str, list[tuple[int, str]]] = defaultdict(list)
    access: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for row in _read(source, V4_FILES["texte"]):
        target = {"definition": definition, "acces_metier": access}.get(row["libelle_type_texte"])
        if target is not None:
            target[row["code_rome"]].append((int(row["position_phrase"]), _text(row["libelle_texte"])))

    close: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for row in _read(source, V4_FILES["mobilite"]):
        if row["code_rome_cible"] not in known:
            raise SourceError(f"mobility target {row['code_rome_cible']} is not a métier")
        close[row["code_rome"]].append((int(row["numero_ordre"]), row["code_rome_cible"]))

    contexts = {row["code_ogr"]: row for row in _read(source, V4_FILES["contexte"])}
    competences = {row["code_ogr"]: row for row in _read(source, V4_FILES["competence"])}
    savoirs = {row["code_ogr_savoir"]: row for row in _read(source, V4_FILES["savoir"])}
    metier_contexts: dict[str, list[str]] = defaultdict(list)
    metier_skills: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    skills: dict[str, tuple[str, str]] = {}
    for row in _read(source, V4_FILES["liens"]):
        code, ogr = row["code_rome"], row["code_ogr"]
        if row["code_compo_bloc"] == "6":
            metier_contexts[code].append(ogr)
        elif row["code_compo_bloc"] == "5":
            kind = SKILL_KINDS[row["code_rubrique"]]
            label = (
                savoirs[ogr]["libelle_savoir"] if kind == "savoir" else competences[ogr]["libelle_competence"]
            )
            skills[ogr] = (kind, label)
            metier_skills[code][kind].append(ogr)
    core: dict[str, list[str]] = defaultdict(list)
    emerging: dict[str, list[str]] = defaultdict(list)
    for row in _read(source, V4_FILES["coherence"]):
        if row["coeur_metier"] == "Principale":
            core[row["code_rome"]].append(row["code_ogr"])
        elif row["coeur_metier"] == "Émergente":
            emerging[row["code_rome"]].append(row["code_ogr"])

    appellations = sorted(_read(source, V4_FILES["appellation"]), key=lambda row: int(row["code_ogr"]))
    for row in appellations:
        if row["code_rome"] not in known:
            raise SourceError(f"appellation {row['code_ogr']} has unknown métier {row['code_rome']}")

    context_labels = {ogr: row["libelle_cont_travail"] for ogr, row in contexts.items()}
    metiers = []
    for row in sorted(fiches, key=lambda row: row["code_rome"]):
        code = row["code_rome"]
        metiers.append(
            [
                code,
                row["libelle_rome"],
                domains[code]["code_domaine_professionel"],
                REGULATED[row["emploi_reglemente"]],
                row["code_rome_parent"],
                "\n".join(text for _, text in sorted(definition[code])),
                "\n".join(text for _, text in sorted(access[code])),
                [target for _, target in sorted(close[code])],
                _sorted_by_label(metier_contexts[code], context_labels),
            ]
        )
    rome = {
        "format": FORMAT,
        "version": "v460",
        "sources": _sha256(source, V4_FILES.values()),
        "grands_domaines": {
            row["code_grand_domaine"]: row["libelle_grand_domaine"]
            for row in _read(source, V4_FILES["grand_domaine"])
        },
        "domaines": {
            row["code_domaine_professionnel"]: row["libelle_domaine_professionnel"]
            for row in _read(source, V4_FILES["domaine"])
        },
        "work_contexts": {
            ogr: [row["libelle_cont_travail"], row["libelle_type_cont_trav"]]
            for ogr, row in sorted(contexts.items(), key=lambda item: int(item[0]))
        },
        "metier_columns": [
            "code",
            "label",
            "domaine",
            "regulated",
            "rome_v3",
            "definition",
            "access",
            "close_metiers",
            "work_contexts",
        ],
        "metiers": metiers,
        "appellation_columns": ["code_ogr", "label", "short_label", "rome", "rarely_used"],
        "appellations": [
            [
                row["code_ogr"],
                row["libelle_appellation_long"],
                row["libelle_appellation_court"],
                row["code_rome"],
                row["peu_usite"] == "O",
            ]
            for row in appellations
        ],
    }
    skill_labels = {ogr: label for ogr, (_, label) in skills.items()}
    skills_file = {
        "format": FORMAT,
        "version": "v460",
        "sources": _sha256(
            source,
            [V4_FILES[key] for key in ("liens", "coherence", "competence", "savoir")],
        ),
        "skill_columns": ["code_ogr", "kind", "label"],
        "skills": [
            [ogr, kind, label] for ogr, (kind, label) in sorted(skills.items(), key=lambda item: int(item[0]))
        ],
        "metier_columns": ["savoir_faire", "savoir_etre", "savoirs", "core", "emerging"],
        "metiers": {
            code: [
                _sorted_by_label(metier_skills[code]["savoir-faire"], skill_labels),
                _sorted_by_label(metier_skills[code]["savoir-être"], skill_labels),
                _sorted_by_label(metier_skills[code]["savoir"], skill_labels),
                sorted(ogr for ogr in core[code] if ogr in skills),
                sorted(ogr for ogr in emerging[code] if ogr in skills),
            ]
            for code in codes
        },
    }
    return rome, skills_file


def build_rome_v3(source: Path) -> dict[str, Any]:
    """The ROME v3 file: codes, labels, domains and the v4 métiers derived from each fiche."""
    fiches = {row["code_rome"]: row for row in _read(source, V3_FILES["code_rome"])}
    domains = {row["code_rome"]: row for row in _read(source, V3_FILES["cr_gd_dp"])}
    if set(fiches) != set(domains):
        raise SourceError("v3 cr_gd_dp and referentiel_code_rome list different fiches")
    successors: dict[str, list[str]] = defaultdict(list)
    for row in _read(source, V4_FILES["code_rome"]):
        parent = row["code_rome_parent"]
        if parent not in fiches:
            raise SourceError(f"v4 {row['code_rome']} derives from unknown v3 fiche {parent!r}")
        successors[parent].append(row["code_rome"])
    orphans = sorted(code for code in fiches if code not in successors)
    if orphans:
        raise SourceError(f"v3 fiches without a v4 successor: {orphans}")
    # Appellation codes (OGR) are stable across versions: where did each v3 fiche's go?
    v4_of_appellation = {row["code_ogr"]: row["code_rome"] for row in _read(source, V4_FILES["appellation"])}
    appellations: dict[str, list[str]] = defaultdict(list)
    for row in _read(source, V3_FILES["appellation"]):
        if row["code_rome"] not in fiches:
            raise SourceError(f"v3 appellation {row['code_ogr']} has unknown fiche")
        appellations[row["code_rome"]].append(row["code_ogr"])
    return {
        "format": FORMAT,
        "version": "v344",
        "sources": _sha256(source, [*V3_FILES.values(), V4_FILES["code_rome"], V4_FILES["appellation"]]),
        "grands_domaines": {
            row["code_grand_domaine"]: row["libelle_grand_domaine"]
            for row in sorted(domains.values(), key=lambda row: row["code_grand_domaine"])
        },
        "domaines": {
            row["code_domaine_professionel"]: row["libelle_domaine_professionel"]
            for row in sorted(domains.values(), key=lambda row: row["code_domaine_professionel"])
        },
        "metier_columns": [
            "code",
            "label",
            "domaine",
            "rome_v4",
            "rome_v4_of_appellations",
            "appellations",
        ],
        "metiers": [
            [
                code,
                fiches[code]["libelle_rome"],
                domains[code]["code_domaine_professionel"],
                sorted(successors[code]),
                sorted({v4_of_appellation[ogr] for ogr in appellations[code] if ogr in v4_of_appellation}),
                sorted(appellations[code], key=int),
            ]
            for code in sorted(fiches)
        ],
    }


MISPLACED_MARGIN_DEG = 0.25
"""How far (≈ 20–28 km) outside its département's usual box a position may lie."""


MENDED_NEIGHBOUR_KM = 25.0
"""How near a commune sharing its postal code a mended position must lie."""


def misplaced_positions(
    rows: list[dict[str, str]], latitudes: list[float | None], longitudes: list[float | None]
) -> tuple[list[int], dict[int, tuple[float, float]]]:
    """Rows whose position cannot be in their département, and those of them that can be mended.

    The source has a few dozen such: swapped or sign-flipped coordinates (Tréguier 22362 at
    +3.23° instead of -3.23°), latitude copied into longitude (Vavincourt 55541), another
    commune's position far away. The box of a département is the 1st–99th percentile of its
    communes' latitudes and longitudes, widened by `MISPLACED_MARGIN_DEG`; départements of fewer
    than 20 positioned communes (overseas, Paris) are not checked. A wrong position inside the
    box (Gex 01173 has Vénissieux's) cannot be told from a right one without the communes'
    contours.

    Mended: a longitude whose sign was flipped, when the flipped position lies in the box and
    within `MENDED_NEIGHBOUR_KM` of a commune sharing one of its postal codes, or for a commune
    alone in its postal code, one of the same sorting area (first 3 digits) (Beylongue 40040
    flipped lands in the Landes, but 80 km from its neighbours: its latitude is wrong too, so
    it stays unknown). Returns the misplaced rows and, for those mended, their position.
    """
    by_departement: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        if latitudes[i] is not None and longitudes[i] is not None:
            by_departement[row["departement"]].append(i)
    misplaced: list[int] = []
    mended: dict[int, tuple[float, float]] = {}
    for members in by_departement.values():
        if len(members) < 20:
            continue
        lats = sorted(latitudes[i] or 0.0 for i in members)
        lons = sorted(longitudes[i] or 0.0 for i in members)
        low, high = int(0.01 * (len(members) - 1)), int(0.99 * (len(members) - 1))
        m = MISPLACED_MARGIN_DEG

        def inside(lat: float, lon: float) -> bool:
            return lats[low] - m <= lat <= lats[high] + m and lons[low] - m <= lon <= lons[high] + m  # noqa: B023

        for i in members:
            lat, lon = latitudes[i] or 0.0, longitudes[i] or 0.0
            if not inside(lat, lon):
                misplaced.append(i)
                if lon != 0.0 and inside(lat, -lon):
                    mended[i] = (lat, -lon)
    wrong = set(misplaced)
    neighbours: dict[str, list[int]] = defaultdict(list)
    for members in by_departement.values():
        for i in members:
            if i not in wrong:
                for code in rows[i]["codes_postaux"].split():
                    neighbours[code].append(i)
                    neighbours[code[:3]].append(i)
    checked: dict[int, tuple[float, float]] = {}
    for i, (lat, lon) in mended.items():
        codes = rows[i]["codes_postaux"].split()
        near = {j for code in codes for j in neighbours[code] if j != i}
        if not near:  # its own postal code: the communes of its sorting area (same 3 first digits)
            near = {j for code in codes for j in neighbours[code[:3]] if j != i}
        if any(_km(lat, lon, latitudes[j] or 0.0, longitudes[j] or 0.0) <= MENDED_NEIGHBOUR_KM for j in near):
            checked[i] = (lat, lon)
    return sorted(misplaced), checked


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, Earth radius 6,371 km)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def build_communes(source: Path) -> dict[str, Any]:
    """The communes file, column by column, rows sorted by INSEE code.

    Columnar JSON parses faster than one list per row. Postal codes stay space-separated;
    the type is given by the list of the 45 municipal arrondissements.
    """
    rows = sorted(_read(source, COMMUNES_FILE), key=lambda row: row["insee"])
    if len({row["insee"] for row in rows}) != len(rows):
        raise SourceError("duplicate INSEE codes in communes.csv")
    for row in rows:
        if row["type"] not in ("commune", "arrondissement"):
            raise SourceError(f"commune {row['insee']}: unexpected type {row['type']!r}")
        if (row["latitude"] in ("", "nan")) != (row["longitude"] in ("", "nan")):
            raise SourceError(f"commune {row['insee']} has half a position")

    def number(value: str) -> float | None:
        # The source writes "nan" for a few unknown positions (Lanester, 56098): unknown, like empty.
        parsed = float(value) if value else None
        return None if parsed is None or not math.isfinite(parsed) else parsed

    latitudes = [number(row["latitude"]) for row in rows]
    longitudes = [number(row["longitude"]) for row in rows]
    misplaced, mended = misplaced_positions(rows, latitudes, longitudes)
    for i in misplaced:
        latitudes[i], longitudes[i] = mended.get(i, (None, None))
    return {
        "format": FORMAT,
        "sources": _sha256(source, [COMMUNES_FILE]),
        "communes": {
            "insee": [row["insee"] for row in rows],
            "name": [row["nom"] for row in rows],
            "departement": [row["departement"] for row in rows],
            "region": [row["region"] for row in rows],
            "postal_codes": [" ".join(row["codes_postaux"].split()) for row in rows],
            "population": [int(row["population"]) if row["population"] else None for row in rows],
            "latitude": latitudes,
            "longitude": longitudes,
        },
        "arrondissements": [row["insee"] for row in rows if row["type"] == "arrondissement"],
    }


def encode(payload: dict[str, Any]) -> bytes:
    """Deterministic gzip'd JSON: sorted keys, compact separators, no timestamp, no file name."""
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    return buffer.getvalue()


def build(source: Path, out: Path) -> dict[str, int]:
    """Write every data file into ``out``; return each file's name and size in bytes."""
    if not source.is_dir():
        raise SourceError(f"source folder {source} does not exist")
    rome, skills = build_rome_v4(source)
    payloads = {
        "rome_v4.json.gz": rome,
        "rome_v4_skills.json.gz": skills,
        "rome_v3.json.gz": build_rome_v3(source),
        "communes.json.gz": build_communes(source),
    }
    out.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for name, payload in payloads.items():
        data = encode(payload)
        (out / name).write_bytes(data)
        sizes[name] = len(data)
    return sizes


app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def build_command(
    source: Annotated[
        Path, typer.Argument(help=f"folder of the open data (default: {DEFAULT_SOURCE})", show_default=False)
    ] = DEFAULT_SOURCE,
    out: Annotated[
        Path,
        typer.Option(
            help=f"folder to write the data files into (default: {DEFAULT_OUT})", show_default=False
        ),
    ] = DEFAULT_OUT,
) -> None:
    """Build the compact reference data files of vocation_shared.reference from the open data."""
    try:
        sizes = build(source, out)
    except SourceError as error:
        typer.echo(f"build_reference: {error}", err=True)
        raise typer.Exit(1) from error
    for name, size in sizes.items():
        typer.echo(f"{size:>10,d}  {out / name}")
    typer.echo(f"{sum(sizes.values()):>10,d}  total")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point: the exit code."""
    try:
        app(args=argv, prog_name="build_reference.py")
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
