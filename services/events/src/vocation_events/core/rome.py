"""ROME v3 codes from older partners, converted to ROME 4 before validation."""

from __future__ import annotations

from typing import Any

from vocation_shared.contracts.codec import FieldError
from vocation_shared.reference import UnknownCodeError, to_rome_v4

MAX_WANTED = 10
MAX_EXPERIENCE = 30


def _convert_one(code: Any, appellation: Any, pointer: str, errors: list[FieldError]) -> tuple[str, ...]:
    if not isinstance(code, str):
        return (code,)  # the contract will say what is wrong
    try:
        return to_rome_v4(code.upper(), 3, appellation if isinstance(appellation, str) else None)
    except UnknownCodeError:
        errors.append(FieldError(pointer, f"unknown ROME v3 code {code!r}"))
        return (code,)


def convert_rome_v3(data: Any) -> tuple[Any, list[FieldError]]:
    """`data` with its ROME v3 codes replaced by ROME 4 ones, and the codes that could not be.

    A single `rome_code` must map to one métier (the `appellation_code` may decide); a v3 code
    standing for several v4 métiers is refused with the candidates listed. In
    `wanted_rome_codes` and `experience` a v3 code stands for every v4 métier derived from it.
    """
    if not isinstance(data, dict):
        return data, []
    errors: list[FieldError] = []
    out = dict(data)
    if "rome_code" in out:
        found = _convert_one(out["rome_code"], out.get("appellation_code"), "/data/rome_code", errors)
        if len(found) == 1:
            out["rome_code"] = found[0]
        else:
            errors.append(
                FieldError(
                    "/data/rome_code",
                    f"ROME v3 code {out['rome_code']!r} stands for several ROME 4 métiers "
                    f"({', '.join(found)}): send the ROME 4 code or an appellation_code",
                )
            )
    wanted = out.get("wanted_rome_codes")
    if isinstance(wanted, list):
        codes: list[Any] = []
        for index, code in enumerate(wanted):
            for v4 in _convert_one(code, None, f"/data/wanted_rome_codes/{index}", errors):
                if v4 not in codes:
                    codes.append(v4)
        out["wanted_rome_codes"] = codes[:MAX_WANTED]
    experience = out.get("experience")
    if isinstance(experience, list):
        converted: list[Any] = []
        for index, item in enumerate(experience):
            if isinstance(item, dict) and "rome_code" in item:
                found = _convert_one(item["rome_code"], None, f"/data/experience/{index}/rome_code", errors)
                converted += [{**item, "rome_code": v4} for v4 in found]
            else:
                converted.append(item)
        out["experience"] = converted[:MAX_EXPERIENCE]
    return out, errors
