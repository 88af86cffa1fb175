"""NHS number normalisation and the modulus-11 check digit (reference.md)."""

from __future__ import annotations

__all__ = ["check_digit", "is_valid", "normalise", "format_nhs_number"]

_WEIGHTS = range(10, 1, -1)


def check_digit(first_nine: str) -> int | None:
    """The check digit for nine digits, or None when no valid number can end them (remainder 10)."""
    total = sum(int(d) * w for d, w in zip(first_nine, _WEIGHTS))
    check = 11 - total % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def normalise(raw: str | None) -> str | None:
    """Strip spaces and dashes; None when the result is not ten digits."""
    if raw is None:
        return None
    digits = raw.replace(" ", "").replace("-", "").strip()
    return digits if len(digits) == 10 and digits.isdigit() else None


def is_valid(raw: str | None) -> bool:
    digits = normalise(raw)
    if digits is None:
        return False
    return check_digit(digits[:9]) == int(digits[9])


def format_nhs_number(digits: str) -> str:
    """Show a number as 3-3-4, the way people read it."""
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"
