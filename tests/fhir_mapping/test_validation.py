"""Every mapped resource is valid against the FHIR R4 model; invalid ones are reported, never dropped."""

from __future__ import annotations

import copy

from fhir_mapping import validate_resources


def test_every_scenario_resource_validates(result):
    report = validate_resources(result.resources, workers=1)
    assert report.checked == sum(len(v) for v in result.resources.values())
    assert report.failures == []


def test_invalid_resources_are_listed_with_their_error_in_parallel(result):
    broken = copy.deepcopy(result.resources)
    bad_encounter = broken["Encounter"][0]
    del bad_encounter["class"]                      # required in R4
    broken["Observation"][0]["status"] = 12         # not a code
    report = validate_resources(broken, workers=2, chunk_size=5)
    assert report.checked == sum(len(v) for v in broken.values())
    assert {(f["resource_type"], f["id"]) for f in report.failures} == {
        ("Encounter", bad_encounter["id"]), ("Observation", broken["Observation"][0]["id"])}
    assert all(f["error"] for f in report.failures)
    assert not report.ok


def test_unknown_resource_type_is_a_failure():
    report = validate_resources({"Nonsense": [{"resourceType": "Nonsense", "id": "x"}]})
    assert report.checked == 1 and report.failures[0]["id"] == "x"
