"""Every mapped resource is valid against the FHIR R4 model; invalid ones are reported, never dropped."""

from __future__ import annotations

import copy

import pytest

from fhir_mapping import validate_resources


@pytest.mark.parametrize("strict", [False, True], ids=["compiled", "strict"])
def test_every_scenario_resource_validates(result, strict):
    report = validate_resources(result.resources, workers=1, strict=strict)
    assert report.checked == sum(len(v) for v in result.resources.values())
    assert report.failures == []


@pytest.mark.parametrize("strict", [False, True], ids=["compiled", "strict"])
def test_invalid_resources_are_listed_with_their_error_in_parallel(result, strict):
    broken = {t: [copy.deepcopy(r) for r in items] for t, items in result.resources.items()}  # resources share elements
    bad_encounter = broken["Encounter"][0]
    del bad_encounter["class"]                      # required in R4
    broken["Observation"][0]["status"] = 12         # not a code
    report = validate_resources(broken, workers=2, chunk_size=5, strict=strict)
    assert report.checked == sum(len(v) for v in broken.values())
    assert {(f["resource_type"], f["id"]) for f in report.failures} == {
        ("Encounter", bad_encounter["id"]), ("Observation", broken["Observation"][0]["id"])}
    assert all(f["error"] for f in report.failures)
    assert not report.ok


@pytest.mark.parametrize("strict", [False, True], ids=["compiled", "strict"])
def test_unknown_resource_type_is_a_failure(strict):
    report = validate_resources({"Nonsense": [{"resourceType": "Nonsense", "id": "x"}]}, strict=strict)
    assert report.checked == 1 and report.failures[0]["id"] == "x"
