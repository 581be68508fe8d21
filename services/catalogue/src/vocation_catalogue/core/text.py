"""Text folding for search: lower case, no accents, no punctuation, one space between words."""

from __future__ import annotations

import re
import unicodedata

_NOT_WORD = re.compile(r"[^a-z0-9]+")
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae"})


def fold(text: str) -> str:
    """The accent-, case- and punctuation-free form of `text` (« Aide-soignant(e) » → « aide soignant e »)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_LIGATURES))
    ascii_only = decomposed.encode("ascii", "ignore").decode("ascii")
    return " ".join(_NOT_WORD.sub(" ", ascii_only).split())


def search_terms(text: str, max_terms: int = 10) -> tuple[str, ...]:
    """The distinct folded words of a query, in order, at most `max_terms`."""
    seen: dict[str, None] = {}
    for word in fold(text).split():
        seen.setdefault(word, None)
    return tuple(seen)[:max_terms]


def searchable(*parts: str | None) -> str:
    """The folded text a row is found by, from its title, description, names…"""
    return fold(" ".join(part for part in parts if part))
