"""Helpers shared by the reference datasets: data file access, text folding, errors."""

from __future__ import annotations

import gzip
import json
import re
import unicodedata
from importlib import resources
from typing import Any

DATA_PACKAGE = "vocation_shared.reference"
DATA_FORMAT = 1

# Keeps ASCII digits and lower-case letters, turns every other byte into a space.
_WORD_BYTES = bytes(c if 48 <= c <= 57 or 97 <= c <= 122 else 32 for c in range(256))
_COMBINING = re.compile("[\u0300-\u036f]+")
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae"})


class UnknownCodeError(LookupError):
    """A code (ROME, INSEE, appellation) that the reference data does not know."""

    def __init__(self, kind: str, code: str) -> None:
        super().__init__(f"unknown {kind} code {code!r}")
        self.kind = kind
        self.code = code

    def __str__(self) -> str:
        return str(self.args[0])


def load_data(name: str) -> dict[str, Any]:
    """Read and decode one gzip'd JSON file of the package's ``data`` folder."""
    raw = resources.files(DATA_PACKAGE).joinpath("data", name).read_bytes()
    payload = json.loads(gzip.decompress(raw))
    if not isinstance(payload, dict) or payload.get("format") != DATA_FORMAT:
        raise RuntimeError(
            f"reference data file {name} has an unexpected format: "
            "rebuild it with shared/scripts/build_reference.py"
        )
    return payload


def fold(text: str) -> str:
    """Lower-case, accent-free, punctuation-free form of a text, words separated by one space.

    >>> fold("L'Haÿ-les-Roses")
    'l hay les roses'
    """
    folded = text.casefold()
    if not folded.isascii():
        if "œ" in folded or "æ" in folded:
            folded = folded.translate(_LIGATURES)
        decomposed = unicodedata.normalize("NFKD", folded)
        folded = _COMBINING.sub("", decomposed).encode("ascii", "replace").decode("ascii")
    return " ".join(folded.encode("ascii").translate(_WORD_BYTES).decode("ascii").split())
