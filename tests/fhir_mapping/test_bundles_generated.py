"""The per-organisation transaction Bundles of a real pipeline run over a generated system: every
reference inside a bundle resolves inside it, every bundle is a valid R4 transaction, and no
bundle holds a person, or any record about a person, without a care relationship between that
person and the organisation in that month (fhir.care_relationship)."""

from __future__ import annotations

import json

import pytest

from fhir_mapping import validate_resources
from fhir_mapping.bundles import references_of
from warehouse.db import make_engine, read_table


@pytest.fixture(scope="module")
def bundles(duckdb_run) -> dict[tuple[str, str], dict]:
    paths = sorted((duckdb_run.out / "fhir" / "bundles").glob("*/*.json"))
    assert paths, "the run wrote no bundles"
    return {(p.parent.name, p.stem): json.loads(p.read_text(encoding="utf-8")) for p in paths}


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
        keys = {entry["request"]["url"] for entry in bundle["entry"]}
        assert {entry["fullUrl"].rsplit("/", 2)[-2] + "/" + entry["fullUrl"].rsplit("/", 1)[-1]
                for entry in bundle["entry"]} == keys
        unresolved += sum(1 for entry in bundle["entry"] for ref in references_of(entry["resource"]) if ref not in keys)
    assert unresolved == 0, f"{unresolved} references point outside their bundle"


def test_no_bundle_holds_anyone_without_a_care_relationship(bundles, relationships):
    people = outside = 0
    for (ods, month), bundle in bundles.items():
        for entry in bundle["entry"]:
            person = _person_of(entry["resource"])
            if person is not None:
                people += 1
                outside += (ods, month, person) not in relationships
    assert people > 0 and outside == 0, f"{outside} of {people} person records have no care relationship"


def test_bundles_are_valid_r4_transactions(bundles):
    sample = [bundles[key] for key in sorted(bundles)[:: max(1, len(bundles) // 20)]]
    assert all(b["type"] == "transaction" and all(e["request"]["method"] == "PUT" for e in b["entry"]) for b in sample)
    assert validate_resources({"Bundle": sample}, workers=1).failures == []
