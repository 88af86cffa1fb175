"""UK Core rules (fhir_mapping/ukcore_rules.yaml): the mapped output meets them, each rule catches
what it is about, failures never carry identifying values, and the pipeline reports a failing
resource as a failed blocking asset check (real Dagster run) without dropping it."""

from __future__ import annotations

import copy
import json
import shutil

import dagster as dg
import pytest

from fhir_mapping import read_ndjson
from fhir_mapping.profiles import check_profiles, rules
from fhir_mapping.terminology import terminology
from pipelines.spark_resource import SparkResource


def test_scenario_resources_meet_every_rule(result):
    report = check_profiles(result.resources)
    assert report.checked == sum(len(v) for v in result.resources.values())
    assert report.failures == [] and report.ok


def test_a_generated_systems_whole_output_meets_every_rule(duckdb_run):
    resources = read_ndjson(duckdb_run.out / "fhir" / "ndjson")
    report = check_profiles(resources)
    assert report.checked > 1000 and report.failures == []


def test_rules_name_only_declared_urls():
    systems, extensions = terminology()["systems"], terminology()["extensions"]
    declared = rules()
    assert {declared["nhs_number"]["system"], declared["nhs_number"]["verification_system"],
            declared["ethnic_category"]["system"], *declared["ods"]["systems"], *declared["code_systems"]} <= set(systems)
    assert {declared["nhs_number"]["verification_extension"], declared["ethnic_category"]["extension"]} <= set(extensions)
    assert set(declared["references"]) <= set(terminology()["profiles"])


def _first(resources, rtype, where=lambda r: True):
    return next(r for r in resources[rtype] if where(r))


def _nhs_identifier(patient):
    return next(i for i in patient["identifier"] if i["system"] == "https://fhir.nhs.uk/Id/nhs-number")


def _has_nhs(patient):
    return any(i["system"] == "https://fhir.nhs.uk/Id/nhs-number" for i in patient.get("identifier", []))


def _break_profile(res):
    _first(res, "Encounter")["meta"]["profile"] = ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"]
    return "Encounter", "profile"


def _break_nhs_check_digit(res):
    _nhs_identifier(_first(res, "Patient", _has_nhs))["value"] = "9434765918"
    return "Patient", "nhs_number"


def _break_verification_code(res):
    ident = _nhs_identifier(_first(res, "Patient", _has_nhs))
    ident["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] = "09"
    return "Patient", "nhs_number_verification"


def _drop_verification(res):
    del _nhs_identifier(_first(res, "Patient", _has_nhs))["extension"]
    return "Patient", "nhs_number_verification"


def _break_org_identifier(res):
    _first(res, "Organization")["identifier"][0]["system"] = "https://fhir.nhs.uk/Id/ods-organisation-code"
    return "Organization", "ods_identifier"


def _break_org_reference(res):
    _first(res, "Encounter")["serviceProvider"]["identifier"]["system"] = "urn:local"
    return "Encounter", "ods_identifier"


def _break_ethnic_code(res):
    patient = _first(res, "Patient", lambda p: "extension" in p)
    patient["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] = "X"
    return "Patient", "ethnic_category"


def _misspell_snomed(res):
    _first(res, "Condition")["code"]["coding"][0]["system"] = "http://snomed.info/sct/"
    return "Condition", "code_system", "binding"   # and so Condition.code has no SNOMED coding left


def _bad_snomed_code(res):
    _first(res, "Condition")["code"]["coding"][0]["code"] = "F32"
    return "Condition", "code_system"


def _snomed_check_digit(res):
    _first(res, "Condition")["code"]["coding"][0]["code"] = "1108281000000104"   # SCTID-shaped, wrong check digit
    return "Condition", "code_system"


def _unbound_observation(res):
    obs = _first(res, "Observation")
    obs["code"] = {"text": "a score"}
    return "Observation", "binding"


def _missing_subject(res):
    del _first(res, "Encounter")["subject"]
    return "Encounter", "reference_required"


def _wrong_subject_type(res):
    _first(res, "Observation")["subject"]["reference"] = "Group/g1"
    return "Observation", "reference_type"


def _dangling_reference(res):
    _first(res, "ServiceRequest")["subject"]["reference"] = "Patient/not-written"
    return "ServiceRequest", "reference_resolves"


BREAKS = [_break_profile, _break_nhs_check_digit, _break_verification_code, _drop_verification, _break_org_identifier,
          _break_org_reference, _break_ethnic_code, _misspell_snomed, _bad_snomed_code, _snomed_check_digit, _unbound_observation,
          _missing_subject, _wrong_subject_type, _dangling_reference]


@pytest.mark.parametrize("breaks", BREAKS, ids=[b.__name__.lstrip("_") for b in BREAKS])
def test_each_rule_catches_what_it_is_about(result, breaks):
    broken = {t: [copy.deepcopy(r) for r in items] for t, items in result.resources.items()}  # resources share elements
    resource_type, *rules_hit = breaks(broken)
    report = check_profiles(broken)
    assert report.checked == sum(len(v) for v in broken.values())   # nothing dropped
    assert {(f["resource_type"], f["rule"]) for f in report.failures} == {(resource_type, r) for r in rules_hit}
    assert len({f["id"] for f in report.failures}) == 1


def test_failures_never_show_identifying_values(result, build):
    broken = {t: [copy.deepcopy(r) for r in items] for t, items in result.resources.items()}  # resources share elements
    _break_nhs_check_digit(broken)
    patient = _first(broken, "Patient", _has_nhs)
    _nhs_identifier(patient)["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] = "99"
    _break_ethnic_code(broken)
    _bad_snomed_code(broken)
    failures = check_profiles(broken).failures
    assert {f["rule"] for f in failures} == {"nhs_number", "nhs_number_verification", "ethnic_category", "code_system"}
    text = json.dumps(failures)
    assert "9434765918" not in text and build.NHS_1 not in text
    assert patient["birthDate"] not in text and patient["name"][0]["family"] not in text
    assert '"X"' not in text and "F32" not in text    # nor any code of the record


def _bad_coding(code: str) -> dict:
    return {"system": "http://snomed.info/sct/", "code": code}       # a misspelt SNOMED CT URL


def _bad_org_ref(ods: str) -> dict:
    return {"reference": "Organization/x", "identifier": {"system": "urn:local", "value": ods}}


def test_a_shared_element_is_checked_as_a_copy_of_it_would_be(result):
    """Elements shared between resources (elements.shared) are checked once per path; the failures
    are those of unshared copies, for every resource that holds them, at every path."""
    from fhir_mapping.elements import is_shared, shared

    coding, org = shared(_bad_coding, "12345"), shared(_bad_org_ref, "A1")
    assert is_shared(coding) and is_shared(org)
    observations = [{**r, "code": {"coding": [coding]}, "performer": [org, org], "basedOn": [org]}
                    for r in result.resources["Observation"][:3]]
    with_shared = check_profiles({"Observation": observations})
    copies = check_profiles({"Observation": [copy.deepcopy(r) for r in observations]})
    assert with_shared.failures == copies.failures
    assert {(f["id"], f["rule"]) for f in copies.failures} == {
        (r["id"], rule) for r in observations for rule in ("code_system", "ods_identifier", "binding", "reference_type")}
    assert {f["detail"].split(":")[0] for f in copies.failures if f["rule"] == "ods_identifier"} == {"performer", "basedOn"}


# --- in the pipeline: a blocking asset check on fhir_resources ------------------------------------

@pytest.fixture(scope="module")
def corrupted_run(duckdb_run, tmp_path_factory):
    """A copy of a pipeline run's warehouse where one person's NHS number fails its check digit."""
    from warehouse.db import execute, make_engine, query

    folder = tmp_path_factory.mktemp("profiles")
    shutil.copy(duckdb_run.out / "warehouse.duckdb", folder / "warehouse.duckdb")
    engine = make_engine(f"duckdb:///{folder / 'warehouse.duckdb'}")
    try:
        person = query(engine, "SELECT person_id FROM linkage.person WHERE nhs_number_verified "
                               "ORDER BY person_id LIMIT 1").column("person_id")[0].as_py()
        # 10 digits whose check digit is wrong for every prefix ending ...0: 0000000001
        execute(engine, f"UPDATE linkage.person SET nhs_number = '0000000001' WHERE person_id = '{person}'")
    finally:
        engine.dispose()
    return folder, person


def test_pipeline_reports_a_failing_resource_as_a_failed_blocking_check(corrupted_run, duckdb_run):
    from pipelines.fhir_assets import fhir_resources
    from pipelines.resources import CarebridgeResource

    folder, person = corrupted_run
    resource = CarebridgeResource(landing_dir=str(duckdb_run.landing), out_dir=str(folder / "out"),
                                  warehouse_url=f"duckdb:///{folder / 'warehouse.duckdb'}")
    try:
        result = dg.materialize([fhir_resources], resources={"carebridge": resource, "spark": SparkResource()}, raise_on_error=False)
    finally:
        resource.dispose()
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    check = checks["uk_core_profiles"]
    assert not check.passed and checks["fhir_model_valid"].passed
    metadata = {k: v.value for k, v in check.metadata.items()}
    assert metadata["failures"] == 1
    examples = json.loads(metadata["examples"])
    assert examples == [{"resource_type": "Patient", "id": person, "rule": "nhs_number",
                         "detail": "identifier value is not 10 digits with a valid check digit"}]
    written = read_ndjson(folder / "out" / "fhir" / "ndjson")
    assert person in {p["id"] for p in written["Patient"]}         # reported, not dropped
    assert metadata["checked"] == sum(len(v) for v in written.values())
