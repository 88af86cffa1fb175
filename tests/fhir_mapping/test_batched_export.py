"""The batched FHIR export (`write_fhir_export`) and the streaming bundle writer
(`write_bundles_from_ndjson`) give exactly what the whole-population path gives: the same NDJSON
and bundle bytes, unmapped rows, warnings, matches, validation and profile reports, for any number
of shards; and the same bytes twice."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from carebridge.core.ids import person_id_for_nhs_number
from carebridge.core.reference import load_reference
from fhir_mapping import care_relationships, map_resources, validate_resources, write_bundles, write_ndjson
from fhir_mapping.bundles import read_delivered, write_bundles_from_ndjson
from fhir_mapping.disclosure import disclosure_log
from fhir_mapping.export import merged_services, write_fhir_export
from fhir_mapping.profile_batches import check_shard, profile_report, recheck_references, unresolved
from fhir_mapping.profiles import check_profiles
from fhir_mapping.shards import shard_count, split_inputs

WHEN = datetime(2026, 4, 1, 12, 0, tzinfo=timezone.utc)
STAMP = "2025-03-31T09:00:00Z"
NHS_3 = "9990000026"
PERSON_3 = person_id_for_nhs_number(NHS_3)


def _shard_of(person_id: str, shards: int) -> int:
    """The shard rule of shards.py (md5 of the person id), to pick shard counts that split people."""
    return int(hashlib.md5(person_id.encode()).hexdigest()[:8], 16) % shards


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _whole(staged, index, reference, out: Path):
    """The reference path: everything in memory, written with write_ndjson."""
    result = map_resources(staged, index, reference)
    write_ndjson(result.resources, out, "2025-03-31T00:00:00Z")
    return result, validate_resources(result.resources, workers=1), check_profiles(result.resources), _files(out)


def _assert_same_export(whole, staged, index, reference, out: Path, shards: int, workers: int = 1):
    result, validation, profiles, files = whole
    export = write_fhir_export(staged, index, reference, out, "2025-03-31T00:00:00Z", shards=shards, workers=workers)
    assert export.shards == shards
    assert _files(out) == files                     # NDJSON + manifest, byte for byte; no work files left
    assert export.counts == {t: n for t, n in result.counts().items() if n}
    assert export.unmapped.equals(result.unmapped)
    assert export.warnings == result.warnings
    assert export.referral_matches.equals(result.referral_matches)
    assert export.validation == validation
    assert export.profiles == profiles
    return export


# --- the hand-made scenario, with people whose records cross shards ----------------------------------

def _crossing_scenario(build):
    """The scenario plus PERSON_3, whose records reach PERSON_1's: a trust contact naming PERSON_3 on
    PERSON_1's referral S1, a GP referral of PERSON_3 matched by UBRN to PERSON_1's Talking Therapies
    referral, and a coded event id sent twice for different patients (the later one wins)."""
    staged = dict(build.scenario_staged())
    extra = {
        "gp.patient": build.staged_table("gp", "Z90001", [
            {"patient_id": "G3", "registration_start": dt.date(2021, 1, 1)}], month="2025-01"),
        "gp.referral": build.staged_table("gp", "Z90001", [
            {"referral_id": "R9", "patient_id": "G3", "referral_date": dt.date(2025, 2, 10),
             "snomed_code": "1037451000000103", "target_ods": "RZY", "target_service": "TT", "ubrn": "000099999999"}]),
        "mhsds.MHS201CareContact": build.staged_table("mhsds", "RZZ", [
            {"CareContactId": "C9", "ServiceRequestId": "S1", "LocalPatientId": "M3",
             "CareContDate": dt.date(2025, 2, 4), "ConsMechanismMH": "01", "AttendStatus": "5"}], month="2025-02"),
        "talking_therapies.IDS101Referral": build.staged_table("talking_therapies", "RZY", [
            {"ServiceRequestId": "TS9", "LocalPatientId": "T1", "ReferralRequestReceivedDate": dt.date(2025, 2, 12),
             "ubrn": "000099999999"}], month="2025-02"),
        "gp.coded_event": build.staged_table("gp", "Z90001", [
            {"event_id": "E1", "patient_id": "G3", "event_date": dt.date(2025, 1, 4), "snomed_code": "720433000",
             "value": 9.0}], month="2024-12"),
    }
    for key, table in extra.items():
        staged[key] = pa.concat_tables([staged[key], table], promote_options="permissive")
    base = build.scenario_index()
    links = pa.concat_tables([base.links, pa.table({
        "source": ["gp", "mhsds"], "provider_ods": ["Z90001", "RZZ"], "local_patient_id": ["G3", "M3"],
        "person_id": [PERSON_3, PERSON_3], "match_method": ["nhs_number", "nhs_number"]})])
    person = {c: [None] for c in base.persons.column_names}
    person.update(person_id=[PERSON_3], nhs_number=[NHS_3], nhs_number_verified=[True], gender=["male"],
                  gp_practice_ods=["Z90001"])
    persons = pa.concat_tables([base.persons, pa.table(person, schema=base.persons.schema)])
    return staged, type(base)(links, persons)


def _splitting_shard_counts(*persons: str) -> list[int]:
    """Shard counts (besides 1) that put these people in different shards."""
    return [k for k in range(2, 12) if len({_shard_of(p, k) for p in persons}) == len(persons)][:2]


def test_the_crossing_scenario_has_what_it_claims(build, reference):
    staged, index = _crossing_scenario(build)
    result = map_resources(staged, index, reference)
    pairs = set(zip(result.referral_matches["gp_local_id"].to_pylist(),
                    result.referral_matches["receiving_local_id"].to_pylist()))
    assert ("R9", "TS9") in pairs
    assert build.by_local_id(result, "Encounter", "C9")["subject"]["reference"] == f"Patient/{PERSON_3}"
    assert build.by_local_id(result, "Observation", "E1")["subject"]["reference"] == f"Patient/{build.PERSON_1}"
    assert len(_splitting_shard_counts(build.PERSON_1, build.PERSON_2, PERSON_3)) == 2


def test_batched_export_equals_the_whole_population_export_on_the_scenario(build, reference, tmp_path):
    staged, index = _crossing_scenario(build)
    whole = _whole(staged, index, reference, tmp_path / "whole")
    for shards in [1, *_splitting_shard_counts(build.PERSON_1, build.PERSON_2, PERSON_3)]:
        _assert_same_export(whole, staged, index, reference, tmp_path / str(shards), shards)


def test_split_inputs_keeps_the_population_on_disk_and_each_row_in_one_shard(build, reference, tmp_path):
    """The by-shard tables are Arrow IPC files (not held in memory); the shards' cuts partition each one."""
    staged, index = _crossing_scenario(build)
    shards = _splitting_shard_counts(build.PERSON_1, build.PERSON_2, PERSON_3)[0]
    split = split_inputs(staged, index, reference, shards, tmp_path / "inputs")
    on_disk = [*split.staged.values(), split.links, split.persons, split.home, split.matches_by_shard]
    assert {b.path.parent for b in on_disk} == {tmp_path / "inputs"} and all(b.path.exists() for b in on_disk)
    assert all(not isinstance(v, pa.Table) for b in on_disk for v in vars(b).values())
    cuts = [split.shard(i) for i in range(shards)]
    for key, rows in split.staged.items():
        whole = rows.table
        assert sum(c.staged[key].num_rows for c in cuts) == whole.num_rows
        assert pa.concat_tables([c.staged[key] for c in cuts]).equals(whole)
    homes = [p for c in cuts for p in c.home_persons.to_pylist()]
    assert sorted(homes) == sorted(index.persons["person_id"].to_pylist())
    temporary = split_inputs(staged, index, reference, shards)     # no folder: a temporary one, gone with the result
    folder = temporary.links.path.parent
    assert folder.exists()
    del temporary
    assert not folder.exists()


# --- a generated system with faults ------------------------------------------------------------------

@pytest.fixture(scope="module")
def system(tmp_path_factory):
    from carebridge.linkage import build_person_index
    from carebridge.staging import stage_landing
    from carebridge.synthetic import generate

    folder = tmp_path_factory.mktemp("batched_system")
    generate(300, folder / "landing", folder / "truth", seed=11, fault_rate=0.1)
    staged = stage_landing(folder / "landing").tables
    return staged, build_person_index(staged), load_reference(folder / "landing")


@pytest.fixture(scope="module")
def system_whole(system, tmp_path_factory):
    return _whole(*system, tmp_path_factory.mktemp("batched_whole"))


@pytest.mark.parametrize("shards, workers", [(1, 1), (3, 1), (7, 1), (3, 2)])
def test_batched_export_equals_the_whole_population_export_on_a_generated_system(system, system_whole, tmp_path,
                                                                                 shards, workers):
    export = _assert_same_export(system_whole, *system, tmp_path, shards, workers)
    assert sum(export.counts.values()) > 500 and export.unmapped.num_rows > 0


def test_two_batched_runs_give_identical_bytes(system, tmp_path):
    staged, index, reference = system
    for run in ("a", "b"):
        write_fhir_export(staged, index, reference, tmp_path / run, "t", shards=2, workers=1)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def test_an_export_replaces_the_previous_one(system, tmp_path):
    staged, index, reference = system
    stale = tmp_path / "fhir" / "ndjson" / "Old.ndjson"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}\n")
    write_fhir_export(staged, index, reference, tmp_path, "t", shards=2, workers=1)
    assert not stale.exists() and not (tmp_path / "fhir" / ".work").exists()


def test_shard_count_grows_with_people_and_uses_the_workers():
    assert shard_count(300, workers=2) == 1
    assert shard_count(5_000, workers=2) == 2
    assert shard_count(100_000, workers=2) == 5
    assert shard_count(1_000_000, workers=2) == 50


def test_services_keep_the_setting_the_referrals_imply_first():
    over_all = {("RZZ", "A06"): "secondary", ("RZY", "TT"): None}
    shards = [{("RZZ", "A06"): "primary", ("Z90001", "MHP"): None}, {("RZY", "TT"): "primary",
                                                                     ("Z90001", "MHP"): "primary"}]
    assert merged_services(over_all, shards) == {("RZZ", "A06"): "secondary", ("RZY", "TT"): "primary",
                                                 ("Z90001", "MHP"): "primary"}


# --- the profile check in batches ----------------------------------------------------------------------

def test_profile_check_in_batches_finds_references_that_resolve_nowhere(result, tmp_path):
    """Two batches that reference each other's resources, and a ServiceRequest that was never written:
    the same failures as check_profiles over everything."""
    resources = {t: list(items) for t, items in result.resources.items()}
    referenced = resources["EpisodeOfCare"][0]["referralRequest"][0]["reference"]
    gone = next(r for r in resources["ServiceRequest"] if f"ServiceRequest/{r['id']}" == referenced)
    resources["ServiceRequest"].remove(gone)
    expected = check_profiles(resources)
    assert any(f["rule"] == "reference_resolves" for f in expected.failures)
    first = {t: items[: len(items) // 2] for t, items in resources.items()}
    second = {t: items[len(items) // 2:] for t, items in resources.items()}
    batches = [check_shard(first), check_shard(second)]
    elsewhere = batches[0].elsewhere | batches[1].elsewhere
    written = {f"{t}/{r['id']}" for t, items in resources.items() for r in items}
    types = {t for t, items in resources.items() if items}
    missing = unresolved(elsewhere, elsewhere & written, types)
    assert missing == {f"ServiceRequest/{gone['id']}"}
    write_ndjson(resources, tmp_path, "t")
    dangling = recheck_references(sorted((tmp_path / "fhir" / "ndjson").glob("*.ndjson")), missing, types)
    report = profile_report(sum(b.checked for b in batches), [f for b in batches for f in b.failures] + dangling)
    assert report == expected


# --- bundles -------------------------------------------------------------------------------------------

def _assert_same_bundles(resources, relationships, tmp_path: Path):
    write_ndjson(resources, tmp_path / "ndjson_out", STAMP)
    old = write_bundles(resources, relationships, tmp_path / "dicts", STAMP)
    new = write_bundles_from_ndjson(tmp_path / "ndjson_out" / "fhir" / "ndjson", relationships, tmp_path / "stream")
    assert [p.relative_to(tmp_path / "dicts") for p in old] == [p.relative_to(tmp_path / "stream") for p in new.paths]
    assert _files(tmp_path / "stream") == _files(tmp_path / "dicts")       # byte-equal, no index left behind
    sent = ((ods, month, bundle) for (ods, month), bundle in sorted(read_delivered(tmp_path / "dicts").items()))
    assert new.disclosure_log("run-1", WHEN).equals(disclosure_log(sent, "run-1", WHEN))
    return old, new


def test_streamed_bundles_equal_the_dict_bundles_on_the_scenario(result, staged, index, tmp_path):
    old, new = _assert_same_bundles(result.resources, care_relationships(staged, index), tmp_path)
    assert len(old) > 3 and new.patients_outside == 0


def test_streamed_bundles_equal_the_dict_bundles_on_a_generated_system(system, system_whole, tmp_path):
    staged, index, _ = system
    result = system_whole[0]
    old, new = _assert_same_bundles(result.resources, care_relationships(staged, index), tmp_path)
    assert len(old) > 20 and new.disclosures.num_rows > 100 and new.patients_outside == 0


def test_a_patient_reached_by_reference_without_a_care_relationship_is_counted(result, staged, index, build,
                                                                               tmp_path):
    """A record of PERSON_1 pointing at PERSON_2's Patient puts PERSON_2 in bundles of organisations
    that do not care for PERSON_2: the check's count is the number of such Patient entries."""
    resources = {t: [dict(r) for r in items] for t, items in result.resources.items()}
    plan = next(r for r in resources["CarePlan"] if r["subject"]["reference"] == f"Patient/{build.PERSON_1}")
    plan["supportingInfo"] = [*plan.get("supportingInfo", []), {"reference": f"Patient/{build.PERSON_2}"}]
    relationships = care_relationships(staged, index)
    old, new = _assert_same_bundles(resources, relationships, tmp_path)
    allowed = set(zip(*(relationships[c].to_pylist() for c in ("ods", "month", "person_id"))))
    outside = Counter((ods, month, e["resource"]["id"]) not in allowed
                      for (ods, month), bundle in read_delivered(tmp_path / "dicts").items() for e in bundle["entry"]
                      if e["resource"]["resourceType"] == "Patient")
    assert new.patients_outside == outside[True] > 0


def test_no_inputs_give_the_reference_data_only(build, reference, tmp_path):
    index = build.person_index([], [])
    whole = _whole({}, index, reference, tmp_path / "whole")
    export = _assert_same_export(whole, {}, index, reference, tmp_path / "batched", shards=3)
    assert set(export.counts) == {"Organization", "HealthcareService"}


def test_bundles_written_a_few_at_a_time_are_the_same(result, staged, index, tmp_path, monkeypatch):
    """More bundles than may be open at once: several passes over the files, the same bytes."""
    import fhir_mapping.bundles as bundles

    monkeypatch.setattr(bundles, "_OPEN_BUNDLES", 2)
    old, new = _assert_same_bundles(result.resources, care_relationships(staged, index), tmp_path)
    assert len(old) > 2 * 2


def test_streaming_refuses_an_export_out_of_id_order(result, staged, index, tmp_path):
    resources = {t: list(reversed(items)) for t, items in result.resources.items()}
    write_ndjson(resources, tmp_path, STAMP)
    with pytest.raises(ValueError, match="not in id order"):
        write_bundles_from_ndjson(tmp_path / "fhir" / "ndjson", care_relationships(staged, index), tmp_path)
