"""A JSON Schema of FHIR R4 resources, derived from the installed `fhir.resources.R4B` models.

Walks each model's fields (types, cardinality, required elements, choice groups, the `_name`
primitive extensions) and writes one `$defs` entry per complex type, with the FHIR primitive
regular expressions (`id`, `code`, `date`, `dateTime`, `instant`, ...). What the models check
beyond a schema's reach is written as schema too, so a compiled engine checks everything in one
pass:
- full dates are calendar dates (30 February is refused, 29 February only in leap years), as
  the models' date parsing refuses them;
- `Reference.reference` is `Type/id` (optionally `/_history/vid`) with a valid id, `urn:uuid:`, or a
  conditional reference `Type?search` (inside transaction Bundles);
- codes bound to a required value set are `enum`s: the models' `enum_values` when they list the
  whole value set, else `required_value_sets.yaml` (the models' list ends with `+` there);
- every Period carries the `fhirPeriodOrder` keyword (end not before start), which
  `compiled_validation` implements;
- strings are never empty, ids at most 64 characters, `additionalProperties` is false.
Resources inside resources (`contained`, `Bundle.entry.resource`) carry the `fhirResource`
keyword: `compiled_validation` validates them against their own type's schema.
"""

from __future__ import annotations

import types
import typing
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from fhir.resources.R4B import get_fhir_model_class

__all__ = ["resource_schema", "PERIOD_KEYWORD", "RESOURCE_KEYWORD", "REFERENCE_PATTERN", "required_value_sets"]

PERIOD_KEYWORD = "fhirPeriodOrder"
RESOURCE_KEYWORD = "fhirResource"
_VALUE_SETS = Path(__file__).with_name("required_value_sets.yaml")

_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_LEAP_YEAR = r"([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)"
_MONTH_DAY = (r"((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
              r"|02-(0[1-9]|1[0-9]|2[0-8]))")
_FULL_DATE = rf"({_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
_PARTIAL_DATE = rf"{_YEAR}(-(0[1-9]|1[0-2]))?"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_ZONE = r"(Z|[+\-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_ID = r"[A-Za-z0-9\-.]{1,64}"
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# A conditional reference (`Type?search`) is what a transaction Bundle may carry (FHIR R4 3.1.0.2.5.x);
# the receiving server resolves it.
REFERENCE_PATTERN = rf"^([A-Z][A-Za-z]+/{_ID}(/_history/{_ID})?|urn:uuid:{_UUID}|[A-Z][A-Za-z]+\?\S+)$"

_STRING = {"type": "string", "minLength": 1}
_PRIMITIVES: dict[str, dict[str, Any]] = {
    "String": _STRING,
    "Markdown": _STRING,
    "Xhtml": _STRING,
    "Code": {"type": "string", "pattern": r"^[^\s]+(\s[^\s]+)*$"},
    "Id": {"type": "string", "pattern": rf"^{_ID}$"},
    "Uri": {"type": "string", "pattern": r"^\S+$"},
    "Url": {"type": "string", "pattern": r"^\S+$"},
    "Canonical": {"type": "string", "pattern": r"^\S+$"},
    "Oid": {"type": "string", "pattern": r"^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$"},
    "Uuid": {"type": "string", "pattern": rf"^urn:uuid:{_UUID}$"},
    "UuidVersion": {"type": "string", "pattern": rf"^(urn:uuid:)?{_UUID}$"},  # uuid (pydantic UUID)
    "Base64Binary": {"type": "string", "pattern": r"^(\s*([0-9a-zA-Z+/=]){4}\s*)+$"},
    "EncodedBytes": {"type": "string", "pattern": r"^(\s*([0-9a-zA-Z+/=]){4}\s*)+$"},  # base64Binary
    "Date": {"type": "string", "pattern": rf"^({_PARTIAL_DATE}|{_FULL_DATE})$"},
    "DateTime": {"type": "string", "pattern": rf"^({_PARTIAL_DATE}|{_FULL_DATE}(T{_TIME}{_ZONE})?)$"},
    "Instant": {"type": "string", "pattern": rf"^{_FULL_DATE}T{_TIME}{_ZONE}$"},
    "Time": {"type": "string", "pattern": rf"^{_TIME}$"},
    "Integer": {"type": "integer", "minimum": -2147483648, "maximum": 2147483647},
    "Integer64": {"type": "integer"},
    "UnsignedInt": {"type": "integer", "minimum": 0, "maximum": 2147483647},
    "PositiveInt": {"type": "integer", "minimum": 1, "maximum": 2147483647},
    "Decimal": {"type": "number"},
}
_PYTHON_PRIMITIVES: dict[type, dict[str, Any]] = {bool: {"type": "boolean"}, str: _STRING}


@lru_cache(maxsize=1)
def required_value_sets() -> dict[str, list[str]]:
    """`Type.element` -> codes, for required bindings the models list only in part (ending `+`)."""
    return yaml.safe_load(_VALUE_SETS.read_text())["value_sets"]


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the element type, whether it repeats) of a field annotation (Optional and List removed)."""
    repeats = False
    while True:
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                raise TypeError(f"unexpected union {annotation!r}")
            annotation = args[0]
        elif origin in (list, typing.List):
            repeats = True
            annotation = typing.get_args(annotation)[0]
        else:
            return annotation, repeats


def _element_schema(annotation: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """The schema of one element value (primitive inline, complex type as a `$ref`)."""
    if typing.get_origin(annotation) is typing.Annotated:
        marker = typing.get_args(annotation)[1]
        return dict(_PRIMITIVES[type(marker).__name__])
    if annotation in _PYTHON_PRIMITIVES:
        return dict(_PYTHON_PRIMITIVES[annotation])
    name = getattr(annotation, "__name__", "")
    if name == "ResourceType":
        return {"type": "object", "required": ["resourceType"], RESOURCE_KEYWORD: True}
    if not name.endswith("Type"):
        raise TypeError(f"unexpected element type {annotation!r}")
    _complex(name[:-len("Type")], defs)
    return {"$ref": f"#/$defs/{name[:-len('Type')]}"}


def _code_enum(owner: str, alias: str, extra: dict[str, Any]) -> list[str] | None:
    listed = extra.get("enum_values")
    if not listed:
        return None
    if "+" not in listed:
        return list(listed)
    key = f"{owner}.{alias}"
    if key not in required_value_sets():
        raise KeyError(f"{key}: the models list its required value set only in part; add it to {_VALUE_SETS.name}")
    return required_value_sets()[key]


def _complex(name: str, defs: dict[str, Any]) -> None:
    """Add the `$defs` entry of one complex type (and of every type it uses)."""
    if name in defs:
        return
    model = get_fhir_model_class(name)
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": {}}
    defs[name] = schema
    properties, required, any_of = schema["properties"], [], []
    choices: dict[str, list[str]] = {}
    for field_name, field in model.model_fields.items():
        if field_name == "fhir_comments":
            continue
        alias = field.alias or field_name
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        element, repeats = _unwrap(field.annotation)
        value = _element_schema(element, defs)
        if alias.startswith("_") and repeats:
            value = {"anyOf": [value, {"type": "null"}]}
        if value.get("pattern") == _PRIMITIVES["Code"]["pattern"] and (codes := _code_enum(name, alias, extra)):
            value["enum"] = codes
        properties[alias] = {"type": "array", "minItems": 1, "items": value} if repeats else value
        if field.is_required():
            required.append(alias)
        elif extra.get("element_required"):
            any_of.append({"anyOf": [{"required": [alias]}, {"required": [f"_{alias}"]}]})
        if extra.get("one_of_many"):
            choices.setdefault(extra["one_of_many"], []).append(alias)
            if extra.get("one_of_many_required"):
                schema.setdefault("x-required-choices", {}).setdefault(extra["one_of_many"], []).append(alias)
    if name == "Reference":
        properties["reference"] = {"type": "string", "pattern": REFERENCE_PATTERN}
    if name == "Period":
        schema[PERIOD_KEYWORD] = True
    for group in schema.pop("x-required-choices", {}).values():
        any_of.append({"anyOf": [{"required": [alias]} for alias in group]})
    dependent = {alias: {"not": {"anyOf": [{"required": [other]} for other in group if other != alias]}}
                 for group in choices.values() if len(group) > 1 for alias in group}
    if dependent:
        schema["dependentSchemas"] = dependent
    if required:
        schema["required"] = required
    if any_of:
        schema["allOf"] = any_of
    schema["minProperties"] = 1


_DEFS: dict[str, Any] = {}   # complex type -> schema, shared by every resource type built in this process


def resource_schema(resource_type: str) -> dict[str, Any]:
    """A self-contained Draft 2020-12 schema of one resource type; raises ValueError for an unknown type."""
    defs = _DEFS
    _complex(resource_type, defs)
    if not issubclass(get_fhir_model_class(resource_type), get_fhir_model_class("Resource")):
        raise ValueError(f"{resource_type} is not a FHIR resource type")
    root = {**defs[resource_type], "properties": {**defs[resource_type]["properties"],
                                                  "resourceType": {"const": resource_type}}}
    root["required"] = sorted(set(root.get("required", [])) | {"resourceType"})
    return {**root, "$defs": dict(defs)}  # JSON Schema draft 2020-12 (compiled_validation picks the draft)
