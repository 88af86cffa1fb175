"""Value rules both engines share: how references are keyed, how boundaries are computed, how a
value belongs to a family. The Python functions here are the reference implementation; the SQL
compiler builds the same logic from the same regular expressions (written to be valid in Python
`re` and in RE2, which DuckDB uses)."""

from __future__ import annotations

import calendar
import json
import re
from typing import Any

from warehouse.viewdef import fhir_schema

__all__ = ["REFERENCE_RE", "URN_RE", "CONTAINED_RE", "DATE_TIME_RE", "TIME_RE", "DATE_RE",
           "DATE_TIME_PARTS", "TIME_PARTS", "reference_key", "matches_family", "to_family",
           "to_text", "decimal_boundary", "date_time_boundary", "time_boundary", "boundary_kind",
           "json_family"]

# `[base/]Type/id[/_history/version]`: group 1 = type, group 2 = id.
REFERENCE_RE = r"^(?:.*/)?([A-Z][A-Za-z]+)/([A-Za-z0-9.-]+)(?:/_history/[A-Za-z0-9.-]+)?$"
URN_RE = r"^urn:uuid:(.+)$"
CONTAINED_RE = r"^#(.+)$"
DATE_RE = r"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$"
DATE_TIME_RE = (r"^([0-9]{4})(?:-([0-9]{2}))?(?:-([0-9]{2}))?(?:T([0-9]{2})(?::([0-9]{2}))?"
                r"(?::([0-9]{2}))?(?:\.([0-9]+))?)?(Z|[+-][0-9]{2}:[0-9]{2})?$")
TIME_RE = r"^([0-9]{2})(?::([0-9]{2}))?(?::([0-9]{2}))?(?:\.([0-9]+))?$"
DATE_TIME_PARTS = ("year", "month", "day", "hour", "minute", "second", "fraction", "zone")
TIME_PARTS = ("hour", "minute", "second", "fraction")
_LOW_TIME = {"hour": "00", "minute": "00", "second": "00", "fraction": "000"}
_HIGH_TIME = {"hour": "23", "minute": "59", "second": "59", "fraction": "999"}

_compiled = {p: re.compile(p) for p in (REFERENCE_RE, URN_RE, CONTAINED_RE, DATE_RE, DATE_TIME_RE, TIME_RE)}


def reference_key(reference: Any, wanted_type: str | None) -> str | None:
    """The key of the resource a Reference points at (its logical id), optionally only if it has
    `wanted_type`. Handles relative, absolute, versioned, urn:uuid and contained (#id) references."""
    if not isinstance(reference, dict) or not isinstance(reference.get("reference"), str):
        return None
    text = reference["reference"]
    match = _compiled[REFERENCE_RE].match(text)
    if match:
        ref_type, key = match.group(1), match.group(2)
    else:
        other = _compiled[URN_RE].match(text) or _compiled[CONTAINED_RE].match(text)
        if other is None:
            return None
        ref_type, key = reference.get("type"), other.group(1)
    if wanted_type is not None and ref_type != wanted_type:
        return None
    return key


def json_family(value: Any) -> str:
    """Family of a JSON value as read: bool, integer, decimal, text or object."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "decimal"
    if isinstance(value, str):
        return "text"
    return "object"


def matches_family(value: Any, type_name: str) -> bool:
    """Whether a JSON value can be of FHIR type `type_name` (used by ofType on untyped data)."""
    wanted = fhir_schema.family(type_name)
    actual = json_family(value)
    if wanted is None:
        return actual == "object" and value.get("resourceType", type_name) == type_name
    if wanted == "decimal":
        return actual in ("integer", "decimal")
    if wanted in ("date", "dateTime", "time"):
        return actual == "text"
    return actual == wanted


def to_text(value: Any) -> str:
    """A value as text, the way the SQL engine writes it: FHIR JSON spelling for booleans/objects."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def to_family(value: Any, family: str) -> Any:
    """Convert one value to a family (bool, integer, decimal, text); None when it does not convert."""
    try:
        if family == "text":
            return to_text(value)
        if family == "bool":
            return value if isinstance(value, bool) else None
        if isinstance(value, bool) or isinstance(value, (dict, list)):
            return None
        number = float(value)
        return int(number) if family == "integer" else number  # int() truncates, like the SQL
    except (TypeError, ValueError):
        return None


def boundary_kind(value: Any, static_type: str | None) -> str | None:
    """decimal, date, dateTime or time: from the static type if known, else from the value's shape."""
    if static_type is not None:
        family = fhir_schema.family(static_type)
        return "decimal" if family in ("integer", "decimal") else family if family in ("date", "dateTime", "time") else None
    if json_family(value) in ("integer", "decimal"):
        return "decimal"
    if not isinstance(value, str):
        return None
    if "T" in value:
        return "dateTime"
    if _compiled[DATE_RE].match(value):
        return "date"
    if _compiled[TIME_RE].match(value):
        return "time"
    return None


def decimal_boundary(value: Any, high: bool) -> float | None:
    """Half a unit of the last significant decimal place below (low) or above (high) the value."""
    number = to_family(value, "decimal")
    if number is None:
        return None
    text = to_text(value)
    digits = len(text.split(".", 1)[1]) if "." in text else 0
    delta = 0.5 * 10 ** -digits
    return round(number + delta if high else number - delta, digits + 1)


def _pad_fraction(fraction: str | None, high: bool) -> str:
    if fraction is None:
        return "999" if high else "000"
    return fraction.ljust(3, "9" if high else "0")


def _time_text(parts: dict[str, str | None], high: bool) -> str:
    defaults = _HIGH_TIME if high else _LOW_TIME
    hour, minute, second = (parts[k] or defaults[k] for k in ("hour", "minute", "second"))
    return f"{hour}:{minute}:{second}.{_pad_fraction(parts['fraction'], high)}"


def _date_text(parts: dict[str, str | None], high: bool) -> str:
    year = parts["year"]
    month = parts["month"] or ("12" if high else "01")
    day = parts["day"]
    if day is None:
        day = f"{calendar.monthrange(int(year), int(month))[1]:02d}" if high else "01"
    return f"{year}-{month}-{day}"


def date_time_boundary(value: Any, kind: str, high: bool) -> str | None:
    """Earliest/latest instant a (partial) date or dateTime can mean; dates stay dates."""
    match = _compiled[DATE_TIME_RE].match(value) if isinstance(value, str) else None
    if match is None:
        return None
    parts = dict(zip(DATE_TIME_PARTS, match.groups()))
    date = _date_text(parts, high)
    if kind == "date":
        return date
    zone = parts["zone"] or ("-12:00" if high else "+14:00")
    return f"{date}T{_time_text(parts, high)}{zone}"


def time_boundary(value: Any, high: bool) -> str | None:
    match = _compiled[TIME_RE].match(value) if isinstance(value, str) else None
    if match is None:
        return None
    return _time_text(dict(zip(TIME_PARTS, match.groups())), high)
