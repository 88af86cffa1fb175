"""Delivery parts (fhir_mapping.delivery) and retractions (fhir_mapping.retraction), on the
hand-made scenario: sizes, self-containment, conditional identities, order, and what a later
submission retracts."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pyarrow as pa
import pytest

from fhir_mapping.bundles import read_delivered, references_of, write_bundles
from fhir_mapping.delivery import conditional_url, delivery_parts, logical_resources, retraction_parts
from fhir_mapping.retraction import LEDGER_SCHEMA, retracted, retraction_log, write_retractions
from fhir_mapping.terminology import system

STAMP = "2025-03-31T09:00:00Z"


@pytest.fixture(scope="module")
def logical(result, staged, index, tmp_path_factory):
    from fhir_mapping import care_relationships

    out = tmp_path_factory.mktemp("logical")
    write_bundles(result.resources, care_relationships(staged, index), out, STAMP)
    return {key: [e["resource"] for e in b["entry"]] for key, b in read_delivered(out).items()}


@pytest.mark.parametrize("limit", [3, 5, 8, 50])
def test_parts_fit_the_limit_stand_alone_and_carry_the_bundle(logical, limit):
    for (ods, month), resources in logical.items():
        parts = delivery_parts(ods, month, resources, STAMP, limit)
        assert all(0 < len(p["entry"]) <= limit for p in parts)
        assert [p["identifier"]["value"] for p in parts] == [
            f"{ods}/{month}/{i:04d}-of-{len(parts):04d}" for i in range(1, len(parts) + 1)]
        for part in parts:
            local = {e["fullUrl"] for e in part["entry"]}
            refs = [r for e in part["entry"] for r in references_of(e["resource"])]
            assert all(r in local for r in refs if r.startswith("urn:uuid:"))
            assert not any(r.startswith(("Patient/", "Organization/")) for r in refs)
        # read back, the parts hold exactly the logical bundle
        assert logical_resources(parts) == {f"{r['resourceType']}/{r['id']}": r for r in resources}


def test_bigger_limits_give_fewer_parts(logical):
    resources = max(logical.values(), key=len)
    counts = [len(delivery_parts("X", "2025-01", resources, STAMP, n)) for n in (3, 8, 50)]
    assert counts[0] > counts[1] > counts[2] >= 1


def test_organizations_first_then_referenced_records_before_referencing_ones(logical):
    for (ods, month), resources in logical.items():
        parts = delivery_parts(ods, month, resources, STAMP, 8)
        order = [e["fullUrl"].rsplit("/", 2)[-2] + "/" + e["fullUrl"].rsplit("/", 1)[-1]
                 for p in parts for e in p["entry"] if not e["fullUrl"].startswith("urn:uuid:")]
        kinds = [{e["resource"]["resourceType"] == "Organization" for e in p["entry"]} for p in parts]
        first_record = next(i for i, k in enumerate(kinds) if False in k)
        assert first_record > 0 and all(k == {True} for k in kinds[:first_record])
        assert not any(True in k for k in kinds[first_record:])      # no Organization after the records start
        position = {key: i for i, key in enumerate(order)}
        for p in parts:
            for e in p["entry"]:
                if e["fullUrl"].startswith("urn:uuid:"):
                    continue
                key = f"{e['resource']['resourceType']}/{e['resource']['id']}"
                for ref in references_of(e["resource"]):
                    if ref in position and ref.split("/")[0] == "ServiceRequest" and key.split("/")[0] != "ServiceRequest":
                        assert position[ref] < position[key], (key, ref)


def test_patients_match_on_nhs_number_else_the_recipients_own_local_id():
    nhs = {"resourceType": "Patient", "id": "p", "identifier": [
        {"system": system("nhs_number"), "value": "9434765919"},
        {"system": "https://x/Id/gp/Z1/patient", "value": "G1"}]}
    assert conditional_url(nhs, "RZZ") == f"Patient?identifier={system('nhs_number')}|9434765919"
    local = {"resourceType": "Patient", "id": "p", "identifier": [
        {"system": "https://x/Id/gp/Z1/patient", "value": "G1"}, {"system": "https://x/Id/mhsds/RZZ/patient", "value": "M1"}]}
    assert conditional_url(local, "RZZ") == "Patient?identifier=https://x/Id/mhsds/RZZ/patient|M1"
    assert conditional_url(local, "Z9") == "Patient?identifier=https://x/Id/gp/Z1/patient|G1"
    with pytest.raises(ValueError, match="no identifier"):
        conditional_url({"resourceType": "Patient", "id": "p"}, "RZZ")
    with pytest.raises(ValueError, match="no ODS code"):
        conditional_url({"resourceType": "Organization", "id": "o", "identifier": []}, "RZZ")


def test_a_limit_too_small_for_a_record_and_its_patient_is_refused(logical):
    resources = max(logical.values(), key=len)
    with pytest.raises(ValueError, match="too small"):
        delivery_parts("X", "2025-01", resources, STAMP, 1)


def _ledger(rows):
    return pa.table({name: pa.array([r[i] for r in rows], pa.string()) for i, name in enumerate(LEDGER_SCHEMA.names)})


def test_what_a_recipient_no_longer_receives_is_retracted_once(tmp_path):
    kept = ("RZZ", "Observation", "o1", "https://x/Id/mhsds/RZY/IDS606", "A1", "p1", "RZY")
    gone_row = ("RZZ", "Encounter", "e1", "https://x/Id/gp/Z1/appointment", "AP1", "p1", "Z1")
    other = ("Z1", "Encounter", "e1", "https://x/Id/gp/Z1/appointment", "AP1", "p1", "Z1")
    previous, current = _ledger([kept, gone_row, other]), _ledger([kept, other])
    gone = retracted(previous, current)
    assert gone.to_pylist() == [dict(zip(LEDGER_SCHEMA.names, gone_row))]
    assert retracted(current, current).num_rows == 0 and retracted(None, current).num_rows == 0

    paths = write_retractions(tmp_path, gone, STAMP)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == ["fhir/bundles/RZZ/retractions/0001.json"]
    part = json.loads(paths[0].read_text())
    assert part["type"] == "transaction" and part["timestamp"] == STAMP
    assert part["entry"] == [{"request": {"method": "DELETE",
                                          "url": "Encounter?identifier=https://x/Id/gp/Z1/appointment|AP1"}}]

    log = retraction_log(gone, "run-2", datetime(2026, 1, 1, tzinfo=timezone.utc), "2025-03")
    assert [(r["recipient_ods"], r["person_id"], r["holder_ods"], r["records"], r["action"]) for r in log.to_pylist()] == [
        ("RZZ", "p1", "Z1", 1, "retracted")]


def test_retractions_are_cut_to_the_limit():
    rows = [("Observation", f"o{i}", "https://x/Id/s", f"v{i}") for i in range(20)]
    parts = retraction_parts("RZZ", rows, STAMP, 8)
    assert [len(p["entry"]) for p in parts] == [8, 8, 4]
    assert all(e["request"]["method"] == "DELETE" for p in parts for e in p["entry"])
    assert retraction_parts("RZZ", [("Goal", "g1", None, None)], STAMP, 8)[0]["entry"][0]["request"]["url"] == "Goal?_id=g1"
