"""Code lists and value-range lookups the specs refer to by name.

Lists come from `carebridge/core/reference/codes.yaml` (shared), then `carebridge/staging/specs/local_codes.yaml`
(lists staging needs that codes.yaml lacks). `measure_codes` is derived from codes.yaml `measures`:
every SNOMED code, item code and local code of a measure, mapped to that measure's range.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml

from carebridge.core.reference import codes
from carebridge.staging.tables import SPEC_DIR

__all__ = ["code_values", "range_lookup", "local_codes"]

Range = tuple[float, float]


@cache
def local_codes() -> dict[str, Any]:
    with open(SPEC_DIR / "local_codes.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _measure_ranges() -> dict[tuple[str, ...], Range]:
    """Each code that identifies a measure (or one of its items) -> the measure's (min, max)."""
    lookup: dict[tuple[str, ...], Range] = {}
    for measure in codes()["measures"].values():
        ids = [*measure.get("snomed", []), *measure.get("items", [])]
        if measure.get("local"):
            ids.append(measure["local"])
        for code in ids:
            lookup[(str(code),)] = (float(measure["min"]), float(measure["max"]))
    return lookup


def _vcse_wellbeing_ranges() -> dict[tuple[str, ...], Range]:
    measures = codes()["measures"]
    return {
        (measure, item): (float(measures[ref]["min"]), float(measures[ref]["max"]))
        for measure, items in local_codes()["vcse_wellbeing_items"].items()
        for item, ref in items.items()
    }


_LOOKUPS = {"measure_codes": _measure_ranges, "vcse_wellbeing_items": _vcse_wellbeing_ranges}


@cache
def range_lookup(name: str) -> dict[tuple[str, ...], Range]:
    """Key tuple -> (min, max) for a named value-range lookup."""
    return _LOOKUPS[name]()


@cache
def code_values(name: str) -> frozenset[str]:
    """The valid codes of a named list (dict keys or list items, as text)."""
    if name == "measure_codes":
        return frozenset(code for (code,) in range_lookup("measure_codes"))
    shared = codes()
    values = shared[name] if name in shared else local_codes()[name]
    return frozenset(str(v) for v in values)
