"""SNOMED CT concept ids: the Verhoeff check digit every SCTID carries (SNOMED CT Technical
Implementation Guide, "Check-digit computation"; tables as in Verhoeff 1969). A code failing it
cannot be a concept id."""

from __future__ import annotations

import re

__all__ = ["is_sctid"]

_D = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
      [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
      [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
      [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
_P = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
      [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
      [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]
# 6 to 18 digits, no leading zero; the partition identifier (2nd and 3rd digits from the right)
# of a concept id is 00 (international) or 10 (an extension's, such as the UK's).
_SHAPE = re.compile(r"^[1-9][0-9]{5,17}$")


def is_sctid(code: str | None) -> bool:
    """True when `code` has the shape of an SCTID of a concept and its Verhoeff check digit is right."""
    if not code or not _SHAPE.match(code) or code[-3:-1] not in ("00", "10"):
        return False
    check = 0
    for i, digit in enumerate(reversed(code)):
        check = _D[check][_P[i % 8][int(digit)]]
    return check == 0
