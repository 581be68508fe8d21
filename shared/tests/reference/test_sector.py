"""Diplomas, priority métiers and home care métiers of the sector."""

from __future__ import annotations

import re

import pytest
from vocation_shared.reference import (
    DIPLOMAS,
    HOME_CARE_METIERS,
    PRIORITY_METIER_CODES,
    PRIORITY_METIERS,
    Diploma,
    diploma_for_metier,
    holds_diploma,
    metiers_for_diploma,
    rome_v4,
)

pytestmark = pytest.mark.unit

# The v4 label of each priority métier, as published in ROME v460.
PRIORITY_LABELS = {
    "J1501": "Aide-soignant / Aide-soignante",
    "J1506": "Infirmier / Infirmière en soins généraux (IDE)",
    "J1304": "Auxiliaire de puériculture",
    "J1301": "Agent / Agente de service hospitalier (ASH)",
    "K1306": "Accompagnant Educatif et Social (AES) / Accompagnante Educative et Sociale (AES)",
    "K1311": "Assistant / Assistante de vie aux familles",
    "K1207": "Educateur spécialisé / Educatrice spécialisée",
    "K1208": "Moniteur éducateur / Monitrice éducatrice",
    "K1202": "Educateur / Educatrice de jeunes enfants",
    "K1201": "Assistant social / Assistante sociale",
    "K1305": "Technicien / Technicienne d'Intervention Sociale et Familiale (TISF)",
    "K1309": "Assistant familial / Assistante familiale",
}


def test_priority_metiers_exist_with_their_labels() -> None:
    assert len(PRIORITY_METIERS) == 12
    assert {m.code for m in PRIORITY_METIERS} == PRIORITY_METIER_CODES == set(PRIORITY_LABELS)
    for metier in PRIORITY_METIERS:
        assert rome_v4().require(metier.code).label == PRIORITY_LABELS[metier.code]


def test_state_diplomas_of_the_priority_metiers() -> None:
    expected = {
        "J1501": Diploma.DEAS,
        "J1506": Diploma.DEI,
        "J1304": Diploma.DEAP,
        "J1301": None,
        "K1306": Diploma.DEAES,
        "K1311": Diploma.TP_ADVF,
        "K1207": Diploma.DEES,
        "K1208": Diploma.DEME,
        "K1202": Diploma.DEEJE,
        "K1201": Diploma.DEASS,
        "K1305": Diploma.DETISF,
        "K1309": Diploma.DEAF,
    }
    assert {m.code: m.diploma for m in PRIORITY_METIERS} == expected
    assert {m.code: diploma_for_metier(m.code) for m in PRIORITY_METIERS} == expected
    assert diploma_for_metier("j1501") is Diploma.DEAS
    assert diploma_for_metier("Z9999") is None


def test_diploma_table() -> None:
    assert set(DIPLOMAS) == set(Diploma)
    assert Diploma("DEAS").label == "Diplôme d'État d'aide-soignant"
    assert Diploma.DEAS.level == 4
    assert Diploma.DEI.level == 6
    assert Diploma.DEAES.level == 3
    assert Diploma.TP_ADVF.info.kind == "titre professionnel"
    assert metiers_for_diploma("DEAS") == ("J1501",)
    assert metiers_for_diploma(Diploma.DEAMP) == ("K1306",)
    with pytest.raises(ValueError, match="XYZ"):
        metiers_for_diploma("XYZ")
    contract_pattern = re.compile(r"^[A-Z][A-Z0-9_]{1,19}$")  # DiplomaCode in the contracts
    for diploma, info in DIPLOMAS.items():
        assert info.code is diploma
        assert contract_pattern.match(diploma.value)
        assert info.metiers
        assert all(code in rome_v4() for code in info.metiers)


def test_diplomas_required_by_law_match_rome_regulated_metiers() -> None:
    for info in DIPLOMAS.values():
        if info.required_to_practise:
            assert all(rome_v4().require(code).regulated is True for code in info.metiers)


def test_holds_diploma_counts_discontinued_diplomas() -> None:
    assert holds_diploma(["DEAS"], Diploma.DEAS)
    assert holds_diploma([Diploma.DEAMP], "DEAES")
    assert holds_diploma(["DEAVS", "XYZ"], Diploma.DEAES)
    assert not holds_diploma(["DEAES"], Diploma.DEAMP)
    assert not holds_diploma(["XYZ"], Diploma.DEAS)
    assert not holds_diploma([], Diploma.DEAS)


def test_home_care_metiers() -> None:
    assert {"K1302", "K1306", "K1311"} == HOME_CARE_METIERS
    assert all(code in rome_v4() for code in HOME_CARE_METIERS)
