"""Validated field types of the contracts: SIRET, INSEE and ROME codes, phone numbers, ids."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints

from vocation_shared.reference import communes, rome_v4

_PHONE_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
_LA_POSTE_SIREN = "356000000"
_LUHN_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # 2·d with its digits summed
# ASCII digit → its Luhn-doubled value, as a `bytes.translate` table (the sums then run in C).
_LUHN_DOUBLED_OF_ASCII = bytes.maketrans(b"0123456789", bytes(_LUHN_DOUBLED))
_ZERO = ord("0")


def siret_checksum_ok(siret: str) -> bool:
    """Whether a 14-digit SIRET passes the Luhn check (La Poste's establishments use a digit sum).

    Only ASCII digits count as digits (`str.isdigit` alone also takes `²` or `٣`).
    """
    if len(siret) != 14 or not siret.isascii() or not siret.isdigit():
        return False
    digits = siret.encode("ascii")
    if siret.startswith(_LA_POSTE_SIREN):
        return (sum(digits) - 14 * _ZERO) % 5 == 0
    total = sum(digits[1::2]) - 7 * _ZERO + sum(digits[0::2].translate(_LUHN_DOUBLED_OF_ASCII))
    return total % 10 == 0


def _check_siret(value: str) -> str:
    compact = value.replace(" ", "")
    if len(compact) != 14 or not compact.isdigit():
        raise ValueError("a SIRET is 14 digits")
    if not siret_checksum_ok(compact):
        raise ValueError(f"SIRET {compact} fails its checksum (Luhn): check for a typo")
    return compact


def _check_rome(value: str) -> str:
    code = value.upper()
    if code not in rome_v4():
        raise ValueError(f"unknown ROME 4 code {value!r}")
    return code


def _check_insee(value: str) -> str:
    code = value.upper()
    if code not in communes():
        raise ValueError(f"unknown INSEE commune code {value!r}")
    return code


def _check_https(value: str) -> str:
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("a URL has no spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("the URL must be https://, with a host")
    if "@" in parts.netloc:
        raise ValueError("the URL must not carry a user name or password")
    return value


def _check_phone(value: str) -> str:
    compact = value.replace(" ", "").replace(".", "").replace("-", "")
    if not _PHONE_E164.match(compact):
        raise ValueError("phone number must be in E.164 format, e.g. +33612345678")
    return compact


Siret = Annotated[str, AfterValidator(_check_siret), Field(examples=["73282932000074"])]
RomeCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Na-n][0-9]{4}$"),
    AfterValidator(_check_rome),
    Field(description="ROME 4 code of a métier", examples=["J1501"]),
]
InseeCode = Annotated[
    str,
    StringConstraints(pattern=r"^([0-9]{2}|2[AaBb])[0-9]{3}$|^9[78][0-9]{3}$"),
    AfterValidator(_check_insee),
    Field(description="INSEE code of a commune", examples=["01053"]),
]
PhoneE164 = Annotated[str, AfterValidator(_check_phone), Field(examples=["+33612345678"])]
EntityId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$"),
    Field(description="An entity id chosen by the publishing system (a UUID is a good choice)."),
]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]
FrenchText = Annotated[str, StringConstraints(min_length=1, max_length=5000)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=300)]
FirstName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=60, pattern=r"^[^\x00-\x1f\x7f]+$"),
    Field(description="The name a person is greeted by in messages (one line).", examples=["Camille"]),
]
HttpsUrl = Annotated[
    str,
    StringConstraints(min_length=9, max_length=2000),
    AfterValidator(_check_https),
    Field(
        description="An https:// address, without credentials.",
        examples=["https://emploi.example.fr/offres/42"],
    ),
]
PersonName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=120, pattern=r"^[^\x00-\x1f\x7f]+$"),
    Field(description="A person's name as they sign (one line).", examples=["Claire Dubois"]),
]
