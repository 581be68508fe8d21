"""Keyed pseudonyms: stable per key, different per kind and key, never the id."""

from __future__ import annotations

import pytest
from vocation_shared.pseudonyms import DEVELOPMENT_PSEUDONYM_KEY, PREFIX, Pseudonymizer
from vocation_shared.settings import CommonSettings


def test_a_pseudonym_is_stable_and_does_not_contain_the_id() -> None:
    one = Pseudonymizer("k" * 40)
    assert one.candidate("cand-42") == Pseudonymizer("k" * 40).candidate("cand-42")
    assert one.candidate("cand-42").startswith(PREFIX)
    assert "cand-42" not in one.candidate("cand-42")
    assert len(one.candidate("cand-42")) == 44


def test_the_kind_and_the_key_change_the_pseudonym() -> None:
    one = Pseudonymizer("k" * 40)
    assert one.of("candidate", "x") != one.of("establishment", "x")
    assert one.candidate("x") != Pseudonymizer("l" * 40).candidate("x")


def test_an_empty_key_is_refused_and_the_key_is_never_shown() -> None:
    with pytest.raises(ValueError, match="VOCATION_PSEUDONYM_KEY"):
        Pseudonymizer("")
    assert "k" * 40 not in repr(Pseudonymizer("k" * 40))


def test_the_public_default_key_is_a_secret_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOCATION_PSEUDONYM_KEY", raising=False)
    problem = CommonSettings().pseudonym_key_problem()
    assert problem is not None and problem.variable == "VOCATION_PSEUDONYM_KEY"
    monkeypatch.setenv("VOCATION_PSEUDONYM_KEY", "z" * 8 + "0123456789abcdefghijklmnopqrstuvwxyz")
    assert CommonSettings().pseudonym_key_problem() is None
    assert CommonSettings().pseudonymizer().candidate("a") != Pseudonymizer(
        DEVELOPMENT_PSEUDONYM_KEY
    ).candidate("a")
