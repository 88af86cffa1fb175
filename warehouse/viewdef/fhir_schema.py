"""FHIR R4 element knowledge (cardinality, type, choice elements) read from the fhir.resources models.

`element(type_name, name)` answers "what is `name` on a `type_name`?" so both engines can resolve
choice elements (`value` -> `valueQuantity`, ...) and the SQL compiler can turn member paths into
single JSON paths (`$.name[*].family`). Unknown types or elements answer `None` and the engines fall
back to reading the data as it comes. fhir.resources ships R4B (4.3), whose element definitions match
R4 (4.0.1) for everything carebridge maps.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

__all__ = ["Element", "element", "family", "column_arrow_type", "choice_key", "is_primitive",
           "PRIMITIVE_FAMILIES"]

_DATA = yaml.safe_load((Path(__file__).with_name("fhir_types.yaml")).read_text())
PRIMITIVE_FAMILIES: dict[str, str] = _DATA["primitive_families"]
_COLUMN_ARROW_TYPES: dict[str, str] = _DATA["column_arrow_types"]
_DYNAMIC_TYPES = frozenset(_DATA["dynamic_types"])
_PYTHON_TYPES = {"bool": "boolean", "str": "string", "int": "integer", "Decimal": "decimal", "UUID": "uuid"}


@dataclass(frozen=True)
class Element:
    """One element of a FHIR type. `choices` maps each type of a choice element to its JSON key."""
    name: str
    type: str | None
    is_list: bool
    choices: tuple[tuple[str, str], ...] = ()

    @property
    def is_choice(self) -> bool:
        return bool(self.choices)


def is_primitive(type_name: str | None) -> bool:
    return type_name in PRIMITIVE_FAMILIES


def family(type_name: str | None) -> str | None:
    """The value family of a primitive type (bool, integer, decimal, text, date, dateTime, time)."""
    return PRIMITIVE_FAMILIES.get(type_name) if type_name else None


def column_arrow_type(type_name: str | None) -> str:
    return _COLUMN_ARROW_TYPES.get(type_name or "string", "string")


def choice_key(name: str, type_name: str) -> str:
    """The JSON key of a choice element of a given type: `value` + `dateTime` -> `valueDateTime`."""
    return name + type_name[:1].upper() + type_name[1:]


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _unwrap(annotation: object) -> tuple[object, bool]:
    """Strip Optional/Union/List around a field annotation; say whether a List was seen."""
    is_list = False
    while True:
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, getattr(__import__("types"), "UnionType")):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        elif origin in (list, typing.List):
            is_list, annotation = True, typing.get_args(annotation)[0]
        else:
            return annotation, is_list


def _fhir_type(annotation: object) -> str | None:
    """FHIR type code of an unwrapped annotation: `Annotated[str, Code()]` -> code, `HumanNameType` -> HumanName."""
    if typing.get_origin(annotation) is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        for marker in meta:
            if type(marker).__module__.startswith("fhir_core"):
                return _lower_first(type(marker).__name__)
        return _PYTHON_TYPES.get(getattr(base, "__name__", ""))
    name = getattr(annotation, "__name__", "")
    if name.endswith("Type") and name != "Type":
        complex_name = name[: -len("Type")]
        return None if complex_name in _DYNAMIC_TYPES else complex_name
    return _PYTHON_TYPES.get(name)


@cache
def _elements(type_name: str) -> dict[str, Element] | None:
    """All elements of a FHIR type (resource, data type or backbone element), or None if unknown."""
    if type_name in _DYNAMIC_TYPES or is_primitive(type_name):
        return None
    from fhir.resources.R4B import get_fhir_model_class  # imported lazily: it is slow to import

    try:
        model = get_fhir_model_class(type_name)
    except (KeyError, ValueError, ImportError, AttributeError):
        return None
    plain: dict[str, Element] = {}
    choices: dict[str, list[tuple[str, str]]] = {}
    for field in model.model_fields.values():
        extra = field.json_schema_extra or {}
        if not isinstance(extra, dict) or not extra.get("element_property"):
            continue
        annotation, is_list = _unwrap(field.annotation)
        fhir_type = _fhir_type(annotation)
        if extra.get("one_of_many"):
            choices.setdefault(extra["one_of_many"], []).append((fhir_type or "", field.alias))
        plain[field.alias] = Element(field.alias, fhir_type, is_list)
    for base, options in choices.items():
        plain[base] = Element(base, None, False, tuple(options))
    return plain


def element(type_name: str | None, name: str) -> Element | None:
    """The element `name` of `type_name`, or None when either is unknown to the schema."""
    if not type_name:
        return None
    elements = _elements(type_name)
    return None if elements is None else elements.get(name)
