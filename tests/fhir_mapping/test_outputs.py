"""NDJSON (Bulk Data layout) and per-organisation Bundles: layout, scoping, references, determinism."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from fhir_mapping import care_relationships, map_resources, validate_resources, write_bundles, write_ndjson
from fhir_mapping.bundles import read_delivered, references_of
from fhir_mapping.terminology import terminology


def test_ndjson_layout_and_manifest(result, tmp_path):
    manifest_path = write_ndjson(result.resources, tmp_path, "2025-03-31T00:00:00Z")
    assert manifest_path == tmp_path / "fhir" / "ndjson" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["transactionTime"] == "2025-03-31T00:00:00Z"
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    assert manifest["request"].endswith("$export")
    by_type = {o["type"]: o for o in manifest["output"]}
    assert set(by_type) == {t for t, items in result.resources.items() if items}
    for rtype, entry in by_type.items():
        assert entry["url"] == f"{terminology()['base']}/ndjson/{rtype}.ndjson"   # absolute (Bulk Data)
        lines = (manifest_path.parent / f"{rtype}.ndjson").read_text().splitlines()
        assert entry["count"] == len(lines) == len(result.resources[rtype])
        assert [json.loads(line)["id"] for line in lines] == [r["id"] for r in result.resources[rtype]]
        assert lines[0] == json.dumps(json.loads(lines[0]), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_two_runs_give_identical_bytes(staged, index, reference, tmp_path):
    outputs = []
    for run in ("a", "b"):
        res = map_resources(staged, index, reference)
        rel = care_relationships(staged, index)
        write_ndjson(res.resources, tmp_path / run, "2025-03-31T00:00:00Z")
        write_bundles(res.resources, rel, tmp_path / run)
        outputs.append({p.relative_to(tmp_path / run): p.read_bytes() for p in sorted((tmp_path / run).rglob("*"))
                        if p.is_file()})
    assert outputs[0] == outputs[1]
    assert any(str(p).startswith("fhir/bundles/") for p in outputs[0])


def test_rewrite_removes_stale_files(result, tmp_path):
    stale = tmp_path / "fhir" / "ndjson" / "Old.ndjson"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}\n")
    old_bundle = tmp_path / "fhir" / "bundles" / "X" / "2000-01" / "0001.json"
    old_bundle.parent.mkdir(parents=True)
    old_bundle.write_text("{}")
    write_ndjson(result.resources, tmp_path, "t")
    write_bundles(result.resources, pa.table({"ods": pa.array([], pa.string()), "month": pa.array([], pa.string()),
                                              "person_id": pa.array([], pa.string())}), tmp_path)
    assert not stale.exists() and not old_bundle.exists()


@pytest.fixture(scope="module")
def relationships(staged, index):
    return care_relationships(staged, index)


def test_care_relationships(relationships, build):
    rows = set(zip(*(relationships[c].to_pylist() for c in ("ods", "month", "person_id"))))
    p1 = build.PERSON_1
    # Registered at Z90001 from 2020 with no end: every month of the data (2025-01 .. 2025-03).
    assert {(o, m) for o, m, p in rows if p == p1 and o == "Z90001"} == {
        ("Z90001", "2025-01"), ("Z90001", "2025-02"), ("Z90001", "2025-03")}
    # The trust: S1 open from January; S2 received and rejected in January.
    assert {m for o, m, p in rows if p == p1 and o == "RZZ"} == {"2025-01", "2025-02", "2025-03"}
    assert {m for o, m, p in rows if p == p1 and o == "RZY"} == {"2025-02", "2025-03"}
    assert {m for o, m, p in rows if p == p1 and o == "8ZZ01"} == {"2025-03"}
    # PERSON_2 has no gp.patient row in the scenario, so no relationship at all.
    assert build.PERSON_2 not in {p for _, _, p in rows}


@pytest.fixture(scope="module")
def bundle_out(result, relationships, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundles")
    write_bundles(result.resources, relationships, out, "2025-03-31T09:00:00Z")
    return out


@pytest.fixture(scope="module")
def bundles(bundle_out):
    """(ODS, month) -> the logical bundle its delivery parts carry."""
    return read_delivered(bundle_out)


@pytest.fixture(scope="module")
def parts(bundle_out):
    """(ODS, month) -> the delivery parts as written, in order."""
    found = {}
    for path in sorted((bundle_out / "fhir" / "bundles").glob("*/*/*.json")):
        found.setdefault((path.parent.parent.name, path.parent.name), []).append(json.loads(path.read_text()))
    return found


def test_bundle_files_are_per_organisation_and_month(parts):
    assert ("RZY", "2025-02") in parts and ("Z90001", "2025-01") in parts
    for (ods, month), numbered in parts.items():
        assert [p["identifier"]["value"] for p in numbered] == [
            f"{ods}/{month}/{i:04d}-of-{len(numbered):04d}" for i in range(1, len(numbered) + 1)]
        for part in numbered:
            assert part["type"] == "transaction" and part["timestamp"] == "2025-03-31T09:00:00Z"
            assert 0 < len(part["entry"]) <= 8
            for entry in part["entry"]:
                resource, request = entry["resource"], entry["request"]
                assert request["method"] == "PUT"
                if resource["resourceType"] in ("Patient", "Organization"):
                    # conditional on the business identifier, no id: the server matches or creates
                    assert request["url"].startswith(f"{resource['resourceType']}?identifier=")
                    assert "id" not in resource and entry["fullUrl"].startswith("urn:uuid:")
                else:
                    assert request["url"] == f"{resource['resourceType']}/{resource['id']}"


def test_each_part_is_self_contained(parts):
    """Every Patient/Organization a part's resources reference is a conditional entry of that part."""
    for numbered in parts.values():
        for part in numbered:
            local = {e["fullUrl"] for e in part["entry"]}
            refs = {r for e in part["entry"] for r in references_of(e["resource"])}
            assert not {r for r in refs if r.startswith(("Patient/", "Organization/"))}
            assert {r for r in refs if r.startswith("urn:uuid:")} <= local


def test_conditional_patients_match_on_the_verified_nhs_number(parts, build):
    urls = {e["request"]["url"] for numbered in parts.values() for p in numbered for e in p["entry"]
            if e["resource"]["resourceType"] == "Patient"}
    assert f"Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|{build.NHS_1}" in urls


def _tag(resource):
    return resource["meta"]["tag"][0]["code"]


def test_bundles_hold_other_organisations_records_up_to_month_end(bundles):
    rzy_feb = bundles[("RZY", "2025-02")]
    records = [e["resource"] for e in rzy_feb["entry"]
               if not _tag(e["resource"]).startswith(("reference|", "index|"))]
    local_ids = {r["identifier"][0]["value"] for r in records}
    # The trust's contact of 3 Feb and GP records are shared; the VCSE referral of 1 March is not yet.
    assert {"C1", "C2", "S1", "R1", "R2", "E1"} <= local_ids
    assert "VR1" not in local_ids
    # The organisation's own records are only there when another organisation's record points at them.
    own = {r["identifier"][0]["value"] for r in records if _tag(r) == "talking_therapies|RZY"}
    assert own <= {"TS1"} and "TC1" not in own


def test_no_person_without_a_care_relationship(bundles, relationships):
    allowed = set(zip(*(relationships[c].to_pylist() for c in ("ods", "month", "person_id"))))
    for (ods, month), bundle in bundles.items():
        patients = {e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"}
        assert patients, (ods, month)
        assert all((ods, month, p) in allowed for p in patients)


def test_every_reference_in_a_bundle_resolves_inside_it(bundles):
    for bundle in bundles.values():
        keys = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
        for entry in bundle["entry"]:
            assert set(references_of(entry["resource"])) <= keys


def test_a_bundle_validates_as_r4(parts):
    report = validate_resources({"Bundle": parts[("Z90001", "2025-03")]})
    assert report.failures == []


def test_bundles_are_incremental_after_the_first_month_of_a_relationship(bundles, relationships):
    """After a relationship's first month, a record dated earlier is only there when another entry points at it."""
    from fhir_mapping.bundles import _path
    from fhir_mapping.terminology import code_maps

    date_of = code_maps()["record_date_element"]
    months = set(zip(*(relationships[c].to_pylist() for c in ("ods", "month"))))
    later_months = 0
    for (ods, month), bundle in bundles.items():
        previous = f"{month[:4]}-{int(month[5:]) - 1:02d}" if month[5:] != "01" else f"{int(month[:4]) - 1}-12"
        if (ods, previous) not in months:
            continue  # a first month carries the history
        later_months += 1
        referenced = {ref for e in bundle["entry"] for ref in references_of(e["resource"])}
        for entry in bundle["entry"]:
            resource = entry["resource"]
            element = date_of.get(resource["resourceType"])
            dated = _path(resource, element) if element else None
            if dated and dated[:7] < month:
                key = f"{resource['resourceType']}/{resource['id']}"
                assert key in referenced, (ods, month, key)
    assert later_months > 0
