"""SMS sizing: GSM-7 or UCS-2 encoding, segment counting, and fitting a text into one segment."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

# Characters frequent in French that GSM-7 lacks, replaced by the closest GSM-7 text, as French
# operators do: keeping one character outside GSM-7 would switch the whole SMS to UCS-2 (70 chars).
_FRENCH_TO_GSM7 = {
    "â": "a",
    "ê": "e",
    "î": "i",
    "ô": "o",
    "û": "u",
    "ë": "e",
    "ï": "i",
    "ÿ": "y",
    "ç": "c",
    "À": "A",
    "Â": "A",
    "È": "E",
    "Ê": "E",
    "Ë": "E",
    "Î": "I",
    "Ï": "I",
    "Ô": "O",
    "Ù": "U",
    "Û": "U",
    "œ": "oe",
    "Œ": "OE",
    "æ": "ae",
    "’": "'",
    "‘": "'",
    "«": '"',
    "»": '"',
    "“": '"',
    "”": '"',
    "–": "-",
    "—": "-",
    "…": "...",
    "\u00a0": " ",
    "\u202f": " ",
}

MIN_WORDS = 50
"""The fewest characters of words an SMS keeps before it takes a second segment."""
SINGLE_GSM7 = 160
MULTI_GSM7 = 153
SINGLE_UCS2 = 70
MULTI_UCS2 = 67


class SmsEncoding(StrEnum):
    """How an SMS is encoded on the air."""

    GSM7 = "gsm7"
    UCS2 = "ucs2"


@dataclass(frozen=True, slots=True)
class SmsSize:
    """An SMS text's encoding, length in encoding units, and number of segments."""

    encoding: SmsEncoding
    units: int
    segments: int


def to_gsm7_friendly(text: str) -> str:
    """`text` with French characters outside GSM-7 replaced by their closest GSM-7 spelling."""
    for space in (" ", "\u00a0", "\u202f"):
        text = text.replace("«" + space, "«").replace(space + "»", "»")
    return "".join(_FRENCH_TO_GSM7.get(char, char) for char in text)


def is_gsm7(text: str) -> bool:
    """Whether every character of `text` exists in GSM-7 (basic or extension table)."""
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)


def size_of(text: str) -> SmsSize:
    """Encoding, units and segments of `text` (extension characters take two GSM-7 units)."""
    if is_gsm7(text):
        units = sum(2 if char in GSM7_EXTENSION else 1 for char in text)
        segments = 1 if units <= SINGLE_GSM7 else math.ceil(units / MULTI_GSM7)
        return SmsSize(SmsEncoding.GSM7, units, segments)
    units = len(text.encode("utf-16-le")) // 2
    segments = 1 if units <= SINGLE_UCS2 else math.ceil(units / MULTI_UCS2)
    return SmsSize(SmsEncoding.UCS2, units, segments)


def fit(body: str, tail: str) -> str:
    """`body` then `tail` (link, STOP mention), in one GSM-7 segment when possible.

    French characters are transliterated to GSM-7. When the whole is too long for one
    segment, the body is cut on a word boundary and ends with "..."; the tail is never
    cut. When the tail leaves fewer than `MIN_WORDS` characters to the body in one segment, the
    SMS may take two segments (the body cut to fit them). Text that stays outside GSM-7 (another script) is kept whole, in UCS-2 segments.
    """
    body = to_gsm7_friendly(body.strip())
    tail = to_gsm7_friendly(tail.strip())
    whole = f"{body} {tail}" if tail else body
    size = size_of(whole)
    if size.segments == 1 or size.encoding is SmsEncoding.UCS2:
        return whole
    room = SINGLE_GSM7 - size_of(tail).units - 1 - 3
    if room < MIN_WORDS:
        # A long link (a personal link whose ids are not UUIDs) would leave the words nothing to say.
        if size.units <= 2 * MULTI_GSM7:
            return whole
        room = 2 * MULTI_GSM7 - size_of(tail).units - 1 - 3
    if room <= 0:
        return whole
    cut = body
    while cut and size_of(cut).units > room:
        cut = cut[: max(0, min(len(cut) - 1, room))]
        if " " in cut:
            cut = cut[: cut.rindex(" ")]
    cut = cut.rstrip(" ,;:.-")
    return f"{cut}... {tail}" if cut else tail
