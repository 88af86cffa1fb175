"""Compiled validation of mapped resources: one `jsonschema-rs` validator per resource type.

The schema (`fhir_schema.resource_schema`) is derived from the installed `fhir.resources.R4B`
models, so the two validators agree on what a resource may hold; it is built and compiled once per
process and resource type (about 0.03 s of CPU each) and cached. Beyond the models it refuses
malformed references, codes outside required value sets, ids over 64 characters and periods that
end before they start (the `fhirPeriodOrder` keyword below, the one check done in Python, called
by the engine only on the Periods a resource holds). Resources inside resources (Bundle entries,
`contained`) are validated against their own type's validator.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

import jsonschema_rs

from fhir_mapping.fhir_schema import PERIOD_KEYWORD, RESOURCE_KEYWORD, resource_schema

__all__ = ["compiled_validator", "validate_compiled", "period_ordered"]


def _zone(value: str) -> str:
    return "" if "T" not in value else "Z" if value.endswith("Z") else value[-6:]


def _interval(value: str) -> tuple[datetime, datetime]:
    """The instants a FHIR date or dateTime of any precision covers: [first, after the last).

    A date without a time has no zone; it is read as UTC, as the comparison needs one."""
    if "T" in value:
        point = datetime.fromisoformat(value)
        return point, point + timedelta(microseconds=1)
    parts = [int(p) for p in value.split("-")]
    if len(parts) == 1:
        first, after = datetime(parts[0], 1, 1), datetime(parts[0] + 1, 1, 1)
    elif len(parts) == 2:
        first = datetime(parts[0], parts[1], 1)
        after = datetime(parts[0] + parts[1] // 12, parts[1] % 12 + 1, 1)
    else:
        first = datetime(parts[0], parts[1], parts[2])
        after = first + timedelta(days=1)
    return first.replace(tzinfo=timezone.utc), after.replace(tzinfo=timezone.utc)


def period_ordered(start: str, end: str) -> bool:
    """True when a Period's end is not before its start (FHIR per-1), at any precision and zone."""
    if len(start) == len(end) and _zone(start) == _zone(end):
        return end >= start     # same precision and zone: ISO 8601 strings order as the instants do
    return _interval(end)[1] > _interval(start)[0]


class _PeriodOrder:
    """The `fhirPeriodOrder` keyword: a Period's end is not before its start."""

    def __init__(self, parent_schema: dict[str, Any], value: Any, schema_path: list[str | int]) -> None:
        self.enabled = bool(value)

    def validate(self, instance: Any) -> None:
        if not (self.enabled and isinstance(instance, dict)):
            return
        start, end = instance.get("start"), instance.get("end")
        if isinstance(start, str) and isinstance(end, str):
            try:
                ordered = period_ordered(start, end)
            except ValueError:
                return  # a malformed date: the pattern of start or end reports it
            if not ordered:
                raise ValueError(f"Period end {end} is before its start {start}")


class _Resource:
    """The `fhirResource` keyword: a resource inside a resource is valid against its own type."""

    def __init__(self, parent_schema: dict[str, Any], value: Any, schema_path: list[str | int]) -> None:
        self.enabled = bool(value)

    def validate(self, instance: Any) -> None:
        if self.enabled and isinstance(instance, dict):
            error = _error(str(instance.get("resourceType", "")), instance)
            if error is not None:
                raise ValueError(error)


@lru_cache(maxsize=None)
def compiled_validator(resource_type: str) -> jsonschema_rs.Validator:
    """The compiled validator of one resource type; ValueError when it is not a FHIR resource type."""
    keywords = {PERIOD_KEYWORD: _PeriodOrder, RESOURCE_KEYWORD: _Resource}
    return jsonschema_rs.Draft202012Validator(resource_schema(resource_type), keywords=keywords, validate_formats=False)


def _error(resource_type: str, resource: dict[str, Any]) -> str | None:
    try:
        validator = compiled_validator(resource_type)
    except (ValueError, KeyError) as exc:
        return f"{resource_type or '(no resourceType)'}: {exc}"
    if validator.is_valid(resource):
        return None
    errors = [f"{'.'.join(str(p) for p in e.instance_path) or '(resource)'}: {e.message}"
              for e in validator.iter_errors(resource)]
    return "; ".join(errors[:5])


def validate_compiled(resources: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One failure entry ({resource_type, id, error}) per invalid resource, like `validate_chunk`."""
    failures = []
    for resource in resources:
        if not isinstance(resource, dict):
            failures.append({"resource_type": "", "id": "None", "error": "not a JSON object"})
            continue
        rtype = resource.get("resourceType", "")
        error = _error(rtype, resource) if isinstance(rtype, str) else f"resourceType {rtype!r} is not a string"
        if error is not None:
            failures.append({"resource_type": str(rtype), "id": str(resource.get("id")), "error": error})
    return failures
