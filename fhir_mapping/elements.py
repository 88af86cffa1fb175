"""Small builders for the FHIR elements every mapper uses: codings, references, identifiers, meta.

Builders may return `None` members; `prune` removes them (and empty lists and dicts) once per
resource, so mappers can write one literal per resource instead of chains of `if`s.

Elements that repeat across resources (meta, references to organisations and services, codings of
code lists) are built once by `shared(builder, *args)`: pruned, kept, and the same object handed to
every resource that holds it. `prune` returns a shared object as it is (it is pruned already), and
`profiles` walks it once; resources are never modified after mapping, so sharing is safe.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

from carebridge.core.ids import organisation_id, service_id
from fhir_mapping.terminology import extension, local_identifier_system, profile, system, terminology
from carebridge.core.snomed import is_sctid

__all__ = ["prune", "shared", "is_shared", "shared_ids", "shared_memo", "prune_or_none",
           "iso", "number", "coding", "concept", "meta", "org_ref", "service_ref", "patient_ref",
           "record_ref", "local_identifier", "ext", "service_key"]

RECORD_SOURCE_TAG = "record_source"


_DROP = object()

# Shared elements: (builder, args) -> pruned value; the ids of the values held (so an id is never
# reused while listed); memos of functions of shared values (`shared_memo`). Cleared together, when
# the terminology changes (its URLs are in the values) or when they grow past _SHARED_LIMIT.
_SHARED_LIMIT = 200_000
_built: dict[tuple[Any, tuple[Any, ...]], Any] = {}
_shared_ids: set[int] = set()
_memos: dict[tuple[int, Any], Any] = {}
_built_with: list[Any] = [None]


def shared(builder: Any, *args: Any) -> Any:
    """`prune(builder(*args))` (None when nothing is left), built once per arguments and shared.

    `builder` must be pure: its value depends only on `args` and the terminology. Unhashable
    arguments build an unshared value."""
    try:
        return _shared_value((builder, args), builder, args)
    except TypeError:
        if any(isinstance(a, (dict, list, set)) for a in args):
            return prune_or_none(builder(*args))
        raise


def _shared_value(key: tuple[Any, ...], builder: Any, args: tuple[Any, ...]) -> Any:
    term = terminology()
    if _built_with[0] is not term or len(_built) > _SHARED_LIMIT:
        _built.clear()
        _shared_ids.clear()
        _memos.clear()
        _built_with[0] = term
    try:
        return _built[key]
    except KeyError:
        pass
    value = _built[key] = prune_or_none(builder(*args))
    if type(value) is dict or type(value) is list:
        _shared_ids.add(id(value))
    return value


def prune_or_none(value: Any) -> Any:
    """The pruned value of a member, None when nothing is left of it."""
    value = _pruned(value)
    return None if value is _DROP else value


def is_shared(value: Any) -> bool:
    """Whether `value` is an element built by `shared` (and still listed)."""
    return id(value) in _shared_ids


def shared_ids() -> set[int]:
    """The ids of the listed shared elements (the live set, for `id(x) in` tests in hot loops)."""
    return _shared_ids


def shared_memo(value: Any, key: Any, compute: Any) -> Any:
    """`compute()`, a pure function of the shared `value` and the hashable `key`, computed once
    while `value` is listed."""
    memo_key = (id(value), key)
    try:
        return _memos[memo_key]
    except KeyError:
        result = _memos[memo_key] = compute()
        return result


def _pruned(item: Any) -> Any:
    """The pruned value of a member or list item, or _DROP when nothing is left of it."""
    if item is None:
        return _DROP
    kind = type(item)
    if kind is str:
        return item if item else _DROP
    if kind is dict:
        if id(item) in _shared_ids:
            return item
        item = _prune_dict(item)
    elif kind is list:
        if id(item) in _shared_ids:
            return item
        item = _prune_list(item)
    elif isinstance(item, (dict, list)):
        item = prune(item)
    else:
        return _DROP if item == "" else item
    return item if item else _DROP


# The two loops below decide strings, None and shared elements (most members) in place: the same
# rules as `_pruned`, without a call per member.
def _prune_dict(value: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, item in value.items():
        kind = type(item)
        if kind is str:
            if item:
                out[key] = item
        elif item is None:
            continue
        elif (kind is dict or kind is list) and id(item) in _shared_ids:
            out[key] = item
        else:
            item = _pruned(item)
            if item is not _DROP:
                out[key] = item
    return out


def _prune_list(value: list[Any]) -> list[Any]:
    out = []
    for item in value:
        kind = type(item)
        if kind is str:
            if item:
                out.append(item)
        elif item is None:
            continue
        elif (kind is dict or kind is list) and id(item) in _shared_ids:
            out.append(item)
        else:
            item = _pruned(item)
            if item is not _DROP:
                out.append(item)
    return out


def prune(value: Any) -> Any:
    """Drop None, empty strings, empty lists and empty dicts, recursively (FHIR forbids empty elements)."""
    if isinstance(value, dict):
        return _prune_dict(value)
    if isinstance(value, list):
        return _prune_list(value)
    return value


def iso(value: dt.date | dt.datetime | None) -> str | None:
    """ISO date of a date or date-time (the views and the marts work in dates)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    return value.isoformat()


def number(value: float | int | None) -> float | int | None:
    """A JSON number: integral values as int, so 12.0 is written as 12."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() else float(value)


def coding(system_name: str, code: str | None, display: str | None = None) -> dict[str, Any] | None:
    """A Coding; the code as FHIR `code` text (no edge or repeated whitespace), none for a blank code."""
    return shared(_coding, system_name, code, display)


def _coding(system_name: str, code: str | None, display: str | None) -> dict[str, Any] | None:
    code = " ".join(code.split()) if code else None
    if not code:
        return None
    if system_name == "snomed" and not is_sctid(code):
        # a code sent as SNOMED CT that fails the check digit is no concept: kept, under a local system
        system_name = "local_clinical_code"
    return {"system": system(system_name), "code": code, "display": display}


def concept(*codings: dict[str, Any] | None, text: str | None = None) -> dict[str, Any] | None:
    """A CodeableConcept; shared when its codings are (keyed by their identity, as they are listed)."""
    if all(c is None or id(c) in _shared_ids for c in codings):
        return _shared_value((_concept, tuple(map(id, codings)), text), _concept, (codings, text))
    return _concept(codings, text)


def _concept(codings: tuple[dict[str, Any] | None, ...], text: str | None) -> dict[str, Any] | None:
    kept = [c for c in codings if c]
    if not kept and not text:
        return None
    return {"coding": kept, "text": text}


def meta(resource_type: str, source: str, ods: str) -> dict[str, Any]:
    """`meta.profile` and the record-source tag `<source>|<ODS>` (docs/internals.md)."""
    return shared(_meta, resource_type, source, ods)


def _meta(resource_type: str, source: str, ods: str) -> dict[str, Any]:
    return {"profile": [profile(resource_type)],
            "tag": [{"system": system(RECORD_SOURCE_TAG), "code": f"{source}|{ods}"}]}


# A run references a handful of organisations and services thousands of times.
_organisation_id = cache(organisation_id)
_service_id = cache(service_id)


def org_ref(ods: str | None) -> dict[str, Any] | None:
    return shared(_org_ref, ods) if ods else None


def _org_ref(ods: str | None) -> dict[str, Any] | None:
    if not ods:
        return None
    return {"reference": f"Organization/{_organisation_id(ods)}",
            "identifier": {"system": system("ods_organization"), "value": ods}}


def service_key(ods: str, code: str) -> str:
    """The logical identifier of a HealthcareService: `<ODS>|<service code>`."""
    return f"{ods}|{code}"


def service_ref(ods: str | None, code: str | None) -> dict[str, Any] | None:
    return shared(_service_ref, ods, code) if ods and code else None


def _service_ref(ods: str | None, code: str | None) -> dict[str, Any] | None:
    if not ods or not code:
        return None
    return {"reference": f"HealthcareService/{_service_id(ods, code)}",
            "identifier": {"system": system("healthcare_service_id"), "value": service_key(ods, code)}}


def patient_ref(person_id: str, nhs_number: str | None) -> dict[str, Any]:
    """A subject reference; the NHS number rides along as the logical identifier when verified."""
    ident = {"system": system("nhs_number"), "value": nhs_number} if nhs_number else None
    return {"reference": f"Patient/{person_id}", "identifier": ident}


def local_identifier(source: str, ods: str, table: str, local_id: str) -> dict[str, Any]:
    """The provider's own id of a record, `use: usual`, assigned by the provider organisation."""
    return {"use": "usual", "system": shared(local_identifier_system, source, ods, table), "value": local_id,
            "assigner": org_ref(ods)}


def record_ref(resource_type: str, resource_id: str, source: str, ods: str, table: str,
               local_id: str) -> dict[str, Any]:
    """A reference to another record resource, with the record's local id as logical identifier."""
    return {"reference": f"{resource_type}/{resource_id}",
            "identifier": {"system": shared(local_identifier_system, source, ods, table), "value": local_id}}


def ext(name: str, **value: Any) -> dict[str, Any] | None:
    """An extension by its terminology name: `ext("rejection_date", valueDate="2025-01-02")`."""
    ((key, val),) = value.items()
    if key == "valueCode" and isinstance(val, str):
        val = " ".join(val.split())  # FHIR `code` text: no edge or repeated whitespace
    if val is None or val == "":
        return None
    if id(val) in _shared_ids:
        return _shared_value((_ext, name, key, id(val)), _ext, (name, key, val))
    return _ext(name, key, val)


def _ext(name: str, key: str, val: Any) -> dict[str, Any]:
    return {"url": extension(name), key: val}
