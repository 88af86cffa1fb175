"""Delivery parts: one organisation-month's records cut into small, self-contained transactions
that merge into the recipient's own record (docs/fhir-delivery.md).

A recipient already holds its own patients and organisations under ids carebridge does not know,
so Patients and Organizations are never PUT by id: each is a conditional update on its business
identifier (`PUT Patient?identifier=<NHS number system>|<number>`, `PUT Organization?identifier=
<ODS system>|<code>`), with `fullUrl` `urn:uuid:<carebridge id>` and no `id`, and references to it
are rewritten so the server resolves them to the id it matched or created. Every other resource
keeps its deterministic id (`PUT <Type>/<id>`).

Organizations are referenced everywhere by conditional reference (`Organization?identifier=...`)
and sent first, in parts of their own; a Patient travels in every part holding its records and is
referenced there by `urn:uuid`, so each part can be applied alone, in one transaction. Parts are
numbered in order: Organizations, records without a person (HealthcareServices), then each
person's records with referenced records before the records referencing them, at most
`max_entries_per_transaction` entries each (fhir_mapping/delivery.yaml).

Withdrawn records are retracted with conditional DELETEs on their business identifier
(`retraction_parts`).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from carebridge.core.ids import record_id
from fhir_mapping.terminology import system, terminology

__all__ = ["delivery_config", "max_entries", "conditional_url", "delivery_parts", "retraction_parts",
           "references_of", "logical_resources"]


@cache
def delivery_config() -> dict[str, Any]:
    with open(Path(__file__).parent / "delivery.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def max_entries() -> int:
    """Entries per transaction part (`CAREBRIDGE_FHIR_MAX_ENTRIES` overrides delivery.yaml)."""
    value = int(os.environ.get("CAREBRIDGE_FHIR_MAX_ENTRIES") or delivery_config()["max_entries_per_transaction"])
    if value < 2:
        raise ValueError(f"max_entries_per_transaction must be at least 2, got {value}")
    return value


def _patient_identifier(patient: Mapping[str, Any], recipient: str) -> dict[str, Any]:
    """The NHS number when verified; else the recipient's own local patient id; else the first local id."""
    identifiers = patient.get("identifier") or []
    nhs = [i for i in identifiers if i.get("system") == system("nhs_number")]
    if nhs:
        return nhs[0]
    own = [i for i in identifiers if f"/{recipient}/patient" in i.get("system", "")]
    if own or identifiers:
        return (own or identifiers)[0]
    raise ValueError(f"Patient/{patient.get('id')} has no identifier to match on")


def conditional_url(resource: Mapping[str, Any], recipient: str) -> str:
    """`Patient?identifier=<system>|<value>` / `Organization?identifier=...` for an anchor resource."""
    rtype = resource["resourceType"]
    if rtype == "Organization":
        ident = next((i for i in resource.get("identifier") or [] if i.get("system") == system("ods_organization")),
                     None)
        if ident is None:
            raise ValueError(f"Organization/{resource.get('id')} has no ODS code to match on")
    else:
        ident = _patient_identifier(resource, recipient)
    return f"{rtype}?identifier={ident['system']}|{ident['value']}"


def references_of(value: Any) -> list[str]:
    """Every `Type/id` literal reference inside a resource."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("reference")
            if isinstance(ref, str):
                found.append(ref)
            stack.extend(v for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, (dict, list)))
    return found


def _rewrite(value: Any, targets: Mapping[str, str]) -> Any:
    """A copy with every `reference` found in `targets` replaced by its target (urn:uuid or conditional)."""
    if isinstance(value, dict):
        out = {k: _rewrite(v, targets) for k, v in value.items()}
        ref = value.get("reference")
        if isinstance(ref, str) and ref in targets:
            out["reference"] = targets[ref]
        return out
    if isinstance(value, list):
        return [_rewrite(v, targets) for v in value]
    return value


def _closure(start: Iterable[str], anchor_refs: Mapping[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [k for k in start if k in anchor_refs]
    while todo:
        key = todo.pop()
        if key not in seen:
            seen.add(key)
            todo.extend(r for r in anchor_refs[key] if r in anchor_refs and r not in seen)
    return seen


def _person(resource: Mapping[str, Any]) -> str:
    ref = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
    return ref.split("/", 1)[1] if ref.startswith("Patient/") else ""


def _levels(records: Mapping[str, Mapping[str, Any]], refs: Mapping[str, list[str]]) -> dict[str, int]:
    """0 for a record referencing no other record of the bundle, else 1 + the deepest it references."""
    levels: dict[str, int] = {}

    def level(key: str, path: frozenset[str]) -> int:
        if key not in levels:
            inner = [level(r, path | {key}) for r in refs[key] if r in records and r not in path and r != key]
            levels[key] = 1 + max(inner) if inner else 0
        return levels[key]

    for key in records:
        level(key, frozenset())
    return levels


def _part_bundle(recipient: str, label: str, number: int, total: int, entries: list[dict[str, Any]],
                 timestamp: str) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "id": record_id("bundle", recipient, label, f"{number:04d}"),
        "identifier": {"system": system("bundle_part"), "value": f"{recipient}/{label}/{number:04d}-of-{total:04d}"},
        "type": "transaction",
        "timestamp": timestamp,
        "entry": entries,
    }


def _anchor_entry(key: str, resource: Mapping[str, Any], recipient: str, targets: Mapping[str, str]) -> dict[str, Any]:
    body = _rewrite({k: v for k, v in resource.items() if k != "id"}, targets)
    return {"fullUrl": f"urn:uuid:{key.split('/', 1)[1]}", "resource": body,
            "request": {"method": "PUT", "url": conditional_url(resource, recipient)}}


def _record_entry(key: str, resource: Mapping[str, Any], targets: Mapping[str, str]) -> dict[str, Any]:
    return {"fullUrl": f"{terminology()['base']}/{key}", "resource": _rewrite(resource, targets),
            "request": {"method": "PUT", "url": key}}


def _pack(order: list[str], needs_of: Mapping[str, set[str]], limit: int) -> list[tuple[set[str], list[str]]]:
    """Records in order, cut into groups whose records plus the Patients they need fit `limit`."""
    groups: list[tuple[set[str], list[str]]] = []
    needed: set[str] = set()
    keys: list[str] = []
    for key in order:
        needs = needs_of[key]
        if len(needs) + 1 > limit:
            raise ValueError(f"{key} needs {len(needs)} Patient entries beside it: "
                             f"max_entries_per_transaction {limit} is too small")
        if keys and len(needed | needs) + len(keys) + 1 > limit:
            groups.append((needed, keys))
            needed, keys = set(), []
        needed, keys = needed | needs, keys + [key]
    if keys:
        groups.append((needed, keys))
    return groups


def delivery_parts(recipient: str, month: str, resources: list[dict[str, Any]], timestamp: str,
                   limit: int | None = None) -> list[dict[str, Any]]:
    """An organisation-month's resources (a logical bundle) as ordered, self-contained transactions.

    Organizations come first, as conditional updates in parts of their own, and are referenced
    everywhere by conditional reference (`Organization?identifier=<ODS system>|<code>`), which the
    receiver resolves to its own Organization. Each Patient travels in every part holding its
    records, as a conditional update referenced by `urn:uuid` inside the part.
    """
    limit = limit or max_entries()
    by_key = {f"{r['resourceType']}/{r['id']}": r for r in resources}
    refs = {key: references_of(r) for key, r in by_key.items()}
    orgs = sorted(k for k, r in by_key.items() if r["resourceType"] == "Organization")
    patient_refs = {k: refs[k] for k, r in by_key.items() if r["resourceType"] == "Patient"}
    targets = {k: conditional_url(by_key[k], recipient) for k in orgs}
    targets.update({k: "urn:uuid:" + k.split("/", 1)[1] for k in patient_refs})
    records = {k: r for k, r in by_key.items() if k not in targets}
    levels = _levels(records, refs)
    order = sorted(records, key=lambda k: (_person(records[k]), levels[k], k))
    needs_of = {k: _closure(refs[k], patient_refs) for k in order}
    reached = set().union(*needs_of.values()) if needs_of else set()
    groups = _pack(order, needs_of, limit)
    # A Patient no record of the bundle reaches (only referenced by the recipient's own records): alone.
    groups += [(_closure([k], patient_refs), []) for k in sorted(set(patient_refs) - reached)]

    parts = [[_anchor_entry(k, by_key[k], recipient, targets) for k in orgs[i:i + limit]]
             for i in range(0, len(orgs), limit)]
    parts += [[_anchor_entry(k, by_key[k], recipient, targets) for k in sorted(needed)]
              + [_record_entry(k, by_key[k], targets) for k in keys] for needed, keys in groups]
    total = len(parts)
    return [_part_bundle(recipient, month, i, total, entries, timestamp) for i, entries in enumerate(parts, 1)]


def retraction_parts(recipient: str, retracted: list[tuple[str, str, str | None, str | None]], timestamp: str,
                     limit: int | None = None) -> list[dict[str, Any]]:
    """Conditional DELETEs of (resource type, id, identifier system, identifier value) the recipient
    received earlier and must no longer hold, in parts of at most `limit` entries."""
    limit = limit or max_entries()
    entries = []
    for rtype, rid, ident_system, value in sorted(retracted):
        url = f"{rtype}?identifier={ident_system}|{value}" if ident_system and value else f"{rtype}?_id={rid}"
        entries.append({"request": {"method": "DELETE", "url": url}})
    chunks = [entries[i:i + limit] for i in range(0, len(entries), limit)]
    return [_part_bundle(recipient, "retractions", i, len(chunks), chunk, timestamp)
            for i, chunk in enumerate(chunks, 1)]


def logical_resources(parts: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The resources of delivery parts as carebridge wrote them (`Type/id` -> resource): anchors get
    their id back from `urn:uuid` and references are literal again. For tests and audits."""
    found: dict[str, dict[str, Any]] = {}

    def back(value: Any, types: Mapping[str, str], conditional: Mapping[str, str]) -> Any:
        if isinstance(value, dict):
            out = {k: back(v, types, conditional) for k, v in value.items()}
            ref = value.get("reference")
            if isinstance(ref, str) and ref.startswith("urn:uuid:"):
                out["reference"] = f"{types[ref]}/{ref[9:]}"
            elif isinstance(ref, str) and ref in conditional:
                out["reference"] = conditional[ref]
            return out
        if isinstance(value, list):
            return [back(v, types, conditional) for v in value]
        return value

    parts = list(parts)
    conditional = {e["request"]["url"]: "Organization/" + e["fullUrl"][9:] for part in parts
                   for e in part.get("entry", []) if e["request"]["url"].startswith("Organization?")}
    for part in parts:
        entries = [e for e in part.get("entry", []) if "resource" in e]
        types = {e["fullUrl"]: e["resource"]["resourceType"] for e in entries if e["fullUrl"].startswith("urn:uuid:")}
        for entry in entries:
            resource = back(copy.deepcopy(entry["resource"]), types, conditional)
            if entry["fullUrl"].startswith("urn:uuid:"):
                resource = {"id": entry["fullUrl"][9:], **resource}
            found[f"{resource['resourceType']}/{resource['id']}"] = resource
    return found
