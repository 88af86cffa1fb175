"""The FHIR output of the clean run: a Bulk Data manifest that matches its files, resources with
unique ids, and per-organisation bundles holding only people the organisation cares for."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from warehouse.db import read_table
from fhir_mapping.bundles import read_delivered

pytestmark = pytest.mark.e2e


def test_ndjson_manifest_counts_match_the_files_and_ids_are_unique(clean_system):
    ndjson = clean_system.out / "fhir" / "ndjson"
    manifest = json.loads((ndjson / "manifest.json").read_text(encoding="utf-8"))
    assert {"transactionTime", "request", "requiresAccessToken", "output"} <= set(manifest)
    listed = {entry["type"]: entry for entry in manifest["output"]}
    files = {p.stem: p for p in ndjson.glob("*.ndjson")}
    assert set(listed) == set(files)
    for rtype, entry in listed.items():
        lines = files[rtype].read_text(encoding="utf-8").splitlines()
        assert entry["count"] == len(lines) > 0, rtype
        resources = [json.loads(line) for line in lines]
        assert {r["resourceType"] for r in resources} == {rtype}
        ids = Counter(r["id"] for r in resources)
        assert max(ids.values()) == 1, f"{rtype}: duplicate ids"
        assert entry["url"].endswith(f"{rtype}.ndjson")


def _subject(resource: dict) -> str | None:
    reference = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
    return reference.split("/", 1)[1] if reference.startswith("Patient/") else None


def test_bundles_hold_only_people_their_organisation_cares_for(clean_system, clean_engine):
    relationships = read_table(clean_engine, "fhir", "care_relationship")
    allowed = set(zip(relationships["ods"].to_pylist(), relationships["month"].to_pylist(),
                      relationships["person_id"].to_pylist()))
    parts = sorted((clean_system.out / "fhir" / "bundles").glob("*/*/*.json"))
    assert len({p.parent.parent.name for p in parts}) > 5
    for path in parts:
        part = json.loads(path.read_text(encoding="utf-8"))
        assert part["type"] == "transaction" and len(part["entry"]) <= 8
        for entry in part.get("entry", []):
            resource = entry["resource"]
            if resource["resourceType"] in ("Patient", "Organization"):
                assert entry["request"]["url"].startswith(f"{resource['resourceType']}?identifier=")
            else:
                assert entry["request"] == {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
    patients = outside = 0
    for (ods, month), bundle in read_delivered(clean_system.out).items():
        for entry in bundle["entry"]:
            resource = entry["resource"]
            person = resource["id"] if resource["resourceType"] == "Patient" else _subject(resource)
            patients += resource["resourceType"] == "Patient"
            outside += person is not None and (ods, month, person) not in allowed
    assert patients > 0 and outside == 0
