"""The per-organisation transaction Bundles of a real pipeline run over a generated system: every
reference inside a bundle resolves inside it, every bundle is a valid R4 transaction, and no
bundle holds a person, or any record about a person, without a care relationship between that
person and the organisation in that month (fhir.care_relationship)."""

from __future__ import annotations

import json

import pytest

from fhir_mapping import validate_resources
from fhir_mapping.bundles import read_delivered, references_of
from warehouse.db import make_engine, read_table


@pytest.fixture(scope="module")
def bundles(duckdb_run) -> dict[tuple[str, str], dict]:
    """(ODS, month) -> the logical bundle its delivery parts carry."""
    found = read_delivered(duckdb_run.out)
    assert found, "the run wrote no bundles"
    return found


@pytest.fixture(scope="module")
def parts(duckdb_run) -> list[dict]:
    paths = sorted((duckdb_run.out / "fhir" / "bundles").glob("*/*/*.json"))
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


@pytest.fixture(scope="module")
def relationships(duckdb_run) -> set[tuple[str, str, str]]:
    engine = make_engine(duckdb_run.warehouse_url)
    try:
        table = read_table(engine, "fhir", "care_relationship")
    finally:
        engine.dispose()
    return set(zip(*(table[c].to_pylist() for c in ("ods", "month", "person_id"))))


def _person_of(resource: dict) -> str | None:
    if resource["resourceType"] == "Patient":
        return resource["id"]
    ref = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
    return ref.split("/", 1)[1] if ref.startswith("Patient/") else None


def test_every_reference_in_every_bundle_resolves_inside_it(bundles):
    unresolved = 0
    for bundle in bundles.values():
        keys = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
        unresolved += sum(1 for entry in bundle["entry"] for ref in references_of(entry["resource"]) if ref not in keys)
    assert unresolved == 0, f"{unresolved} references point outside their bundle"


def test_every_part_fits_the_strictest_server_and_stands_alone(parts):
    """At most 8 entries (Medplum's limit once a transaction holds a conditional update); every
    urn:uuid reference resolves inside its part; no literal Patient/Organization reference."""
    assert len(parts) > 20
    for part in parts:
        assert part["type"] == "transaction" and 0 < len(part["entry"]) <= 8
        local = {e.get("fullUrl") for e in part["entry"]}
        refs = {r for e in part["entry"] if "resource" in e for r in references_of(e["resource"])}
        assert {r for r in refs if r.startswith("urn:uuid:")} <= local
        assert not any(r.startswith(("Patient/", "Organization/")) for r in refs)


def test_no_bundle_holds_anyone_without_a_care_relationship(bundles, relationships):
    people = outside = 0
    for (ods, month), bundle in bundles.items():
        for entry in bundle["entry"]:
            person = _person_of(entry["resource"])
            if person is not None:
                people += 1
                outside += (ods, month, person) not in relationships
    assert people > 0 and outside == 0, f"{outside} of {people} person records have no care relationship"


def test_bundles_are_valid_r4_transactions(parts):
    sample = parts[:: max(1, len(parts) // 40)]
    assert all(b["type"] == "transaction" and all(e["request"]["method"] == "PUT" for e in b["entry"]) for b in sample)
    assert validate_resources({"Bundle": sample}, workers=1).failures == []
