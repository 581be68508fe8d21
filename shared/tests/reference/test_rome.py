"""ROME 4 and ROME v3 reference data: lookups, crosswalk, close métiers, search, skills."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from vocation_shared.reference import (
    UnknownCodeError,
    rome_v3,
    rome_v4,
    to_rome_v3,
    to_rome_v4,
)

pytestmark = pytest.mark.unit


def test_importing_the_package_reads_no_data() -> None:
    code = (
        "import vocation_shared.reference as r\n"
        "assert r.rome_v4.cache_info().currsize == 0\n"
        "assert r.communes.cache_info().currsize == 0\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_datasets_are_cached_singletons() -> None:
    assert rome_v4() is rome_v4()
    assert rome_v3() is rome_v3()


def test_known_code_resolves() -> None:
    metier = rome_v4().get("J1501")
    assert metier is not None
    assert "Aide-soignant" in metier.label
    assert metier.grand_domaine.code == "J"
    assert metier.grand_domaine.label == "Santé"
    assert metier.domaine.code == "J15"
    assert metier.regulated is True
    assert metier.rome_v3 == "J1501"


def test_codes_are_case_and_space_insensitive() -> None:
    assert " j1501 " in rome_v4()
    assert rome_v4().get("j1501") is rome_v4().get("J1501")
    assert 1501 not in rome_v4()


def test_unknown_code_is_none_or_a_clear_error() -> None:
    assert rome_v4().get("Z9999") is None
    assert "Z9999" not in rome_v4()
    with pytest.raises(UnknownCodeError, match="unknown ROME 4 code 'Z9999'"):
        rome_v4().close_metiers("Z9999")
    with pytest.raises(UnknownCodeError, match="unknown ROME v3 code 'Z9999'"):
        to_rome_v4("Z9999", 3)
    with pytest.raises(UnknownCodeError):
        to_rome_v4("Z9999", 4)
    with pytest.raises(ValueError, match="expected 3 or 4"):
        to_rome_v4("J1501", 5)


def test_metiers_are_frozen() -> None:
    metier = rome_v4().require("J1501")
    with pytest.raises(dataclasses.FrozenInstanceError):
        metier.label = "x"  # type: ignore[misc]


def test_definition_and_access_are_clean_text() -> None:
    metier = rome_v4().require("J1501")
    assert metier.definition.startswith("L'aide-soignant apporte un soutien")
    assert len(metier.definition.splitlines()) == 6
    assert "Diplôme d'Etat d'Aide-Soignant" in metier.access
    assert all("''" not in m.definition + m.access for m in rome_v4().all())
    assert all(m.definition for m in rome_v4().all())


def test_appellations_and_work_contexts() -> None:
    metier = rome_v4().require("K1306")
    labels = {a.label for a in metier.appellations}
    assert "Aide médico-psychologique" in labels
    appellation = rome_v4().appellation("10856")
    assert appellation is not None
    assert appellation.rome == "K1306"
    assert rome_v4().appellation("0") is None
    contexts = {c.label for c in rome_v4().require("J1501").work_contexts}
    assert "Travail de nuit" in contexts
    assert sum(len(m.appellations) for m in rome_v4().all()) == 13_120


def test_sizes() -> None:
    assert len(rome_v4()) == 1584
    assert len(rome_v3()) == 532
    assert len(rome_v4().grands_domaines()) == 14
    assert {m.code for m in rome_v4().in_domain("K13")} >= {"K1302", "K1306", "K1311"}


def test_v3_k1302_maps_to_k1306_and_k1311() -> None:
    codes = to_rome_v4("K1302", 3)
    assert "K1306" in codes
    assert "K1311" in codes
    # v3 "Assistance auprès d'adultes" was split in four v4 métiers.
    assert codes == ("K1302", "K1306", "K1311", "K1312")
    assert to_rome_v4("K1207", 3) == ("K1207", "K1208", "K1209", "K1210", "K1211")
    assert to_rome_v4("k1302", 4) == ("K1302",)
    assert to_rome_v3("K1306") == "K1302"
    assert to_rome_v3("K1208") == "K1207"


def test_same_code_names_another_metier_in_v4() -> None:
    v3_k1302 = rome_v3().get("K1302")
    v4_k1302 = rome_v4().get("K1302")
    assert v3_k1302 is not None
    assert v4_k1302 is not None
    assert v3_k1302.label == "Assistance auprès d'adultes"
    assert v4_k1302.label == "Assistant / Assistante de vie dépendance"
    v3_k1301 = rome_v3().get("K1301")
    v4_k1301 = rome_v4().get("K1301")
    assert v3_k1301 is not None
    assert v4_k1301 is not None
    assert v3_k1301.label == "Accompagnement médicosocial"
    assert "locomotion" in v4_k1301.label


def test_an_appellation_narrows_the_crosswalk() -> None:
    advf = next(a for a in rome_v4().require("K1311").appellations if "familles" in a.label)
    assert to_rome_v4("K1302", 3, appellation=advf.code_ogr) == ("K1311",)
    # "Aide médico-psychologique" was a v3 K1301 appellation; it is in K1306 now.
    assert to_rome_v4("K1301", 3) == ("K1301",)
    assert to_rome_v4("K1301", 3, appellation="10856") == ("K1306",)
    # An appellation that has nothing to do with the fiche is ignored.
    assert to_rome_v4("K1302", 3, appellation="10200") == to_rome_v4("K1302", 3)


def test_crosswalk_covers_every_code_both_ways() -> None:
    for fiche in rome_v3().all():
        assert fiche.rome_v4
        assert all(rome_v4().require(code).rome_v3 == fiche.code for code in fiche.rome_v4)
    assert all(m.rome_v3 in rome_v3() for m in rome_v4().all())


def test_close_metiers_of_j1501_are_ranked_known_codes() -> None:
    close = rome_v4().close_metiers("J1501")
    assert close[:3] == ["J1304", "J1305", "K1306"]  # numero_ordre 1, 2, 3
    assert len(close) == len(set(close)) == 10
    assert "J1501" not in close
    assert all(code in rome_v4() for code in close)


def test_search_is_accent_insensitive_and_uses_appellations() -> None:
    assert rome_v4().search("aide soignant")[0].code == "J1501"
    assert rome_v4().search("Aide-Soignante")[0].code == "J1501"
    assert rome_v4().search("éducateur spécialisé")[0].code == "K1207"
    assert rome_v4().search("EDUCATEUR SPECIALISE")[0].code == "K1207"
    assert [m.code for m in rome_v4().search("j1506")] == ["J1506"]
    # Matched only through an appellation.
    assert "K1306" in [m.code for m in rome_v4().search("médico-psychologique")]
    assert rome_v4().search("") == []
    assert rome_v4().search("zzzzqqq") == []
    assert len(rome_v4().search("a", limit=3)) == 3


def test_search_appellations() -> None:
    found = rome_v4().search_appellations("aide medico psycho")
    assert found[0].label == "Aide médico-psychologique"
    assert found[0].rome == "K1306"


def test_skills_are_loaded_on_demand() -> None:
    skills = rome_v4().skills("J1501")
    assert skills is not None
    assert skills.savoir_faire
    assert skills.savoir_etre
    assert skills.savoirs
    assert {s.kind for s in skills.savoir_faire} == {"savoir-faire"}
    assert {s.kind for s in skills.savoir_etre} == {"savoir-être"}
    assert {s.kind for s in skills.savoirs} == {"savoir"}
    every = {s.code_ogr for s in skills.savoir_faire + skills.savoir_etre + skills.savoirs}
    assert skills.core <= every
    assert skills.core
    assert rome_v4().skills("Z9999") is None
