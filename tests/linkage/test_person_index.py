import datetime as dt

import pyarrow as pa

from carebridge.core.ids import person_id_for_nhs_number, person_id_for_record
from carebridge.linkage import ScoredPairs, build_person_index

D = dt.date


def _gp_patient(rows):
    base = {"provider_ods": "Z90001", "reporting_month": "2025-04", "given_name": "Ann", "family_name": "Lee",
            "birth_date": D(1980, 1, 2), "sex": "F", "ethnic_category": "A", "postcode": "ZZ1 1AA",
            "lsoa_code": "E01900001", "registration_start": D(2010, 1, 1), "registration_end": None,
            "type1_objection": False, "nhs_number_check": "valid"}
    return pa.Table.from_pylist([{**base, **r} for r in rows])


def _mpi(rows):
    base = {"provider_ods": "RZZ", "reporting_month": "2025-05", "PersonBirthDate": D(1980, 1, 2),
            "GenderIDCode": "2", "EthnicCategory": "B", "Postcode": "ZZ1 1AB", "LSOA2011": "E01900002",
            "PersDeathDate": None, "nhs_number_check": "valid"}
    return pa.Table.from_pylist([{**base, **r} for r in rows])


def test_records_with_one_valid_nhs_number_are_one_person_with_gp_demographics():
    staged = {
        "gp.patient": _gp_patient([{"patient_id": "P1", "nhs_number": "9434765919"}]),
        "mhsds.MHS001MPI": _mpi([{"LocalPatientId": "M1", "NHSNumber": "9434765919"}]),
    }
    index = build_person_index(staged)
    assert set(index.links["person_id"].to_pylist()) == {person_id_for_nhs_number("9434765919")}
    person = index.persons.to_pylist()[0]
    assert index.persons.num_rows == 1
    assert person["ethnic_category"] == "A" and person["gp_practice_ods"] == "Z90001"
    assert person["gender"] == "female" and person["nhs_number_verified"] is True


def test_record_without_valid_nhs_number_stays_its_own_person_and_is_counted():
    staged = {
        "gp.patient": _gp_patient([{"patient_id": "P1", "nhs_number": "9434765919"}]),
        "mhsds.MHS001MPI": _mpi([{"LocalPatientId": "M9", "NHSNumber": None, "nhs_number_check": "invalid"}]),
    }
    index = build_person_index(staged)
    assert index.persons.num_rows == 2
    assert person_id_for_record("mhsds", "RZZ", "M9") in index.links["person_id"].to_pylist()
    assert index.summary()["records_unlinked"] == 1
    trust_only = [p for p in index.persons.to_pylist() if p["nhs_number"] is None][0]
    assert trust_only["gender"] == "female" and trust_only["gp_practice_ods"] is None


def test_person_ids_are_stable_when_the_same_data_is_loaded_again():
    staged = {"gp.patient": _gp_patient([{"patient_id": "P1", "nhs_number": "9434765919"},
                                         {"patient_id": "P2", "nhs_number": None, "nhs_number_check": "missing"}])}
    assert build_person_index(staged).links.equals(build_person_index(staged).links)


def test_trust_registered_practice_comes_from_mhs002gp():
    staged = {
        "mhsds.MHS001MPI": _mpi([{"LocalPatientId": "M1", "NHSNumber": "9434765919"}]),
        "mhsds.MHS002GP": pa.Table.from_pylist([{"provider_ods": "RZZ", "LocalPatientId": "M1", "OrgIDGPPrac": "Z90004",
                                                 "StartDateGMPRegistration": D(2015, 1, 1), "EndDateGMPRegistration": None}]),
    }
    assert build_person_index(staged).persons["gp_practice_ods"].to_pylist() == ["Z90004"]


def test_probabilistic_seam_links_a_record_without_nhs_number_onto_the_person():
    staged = {
        "gp.patient": _gp_patient([{"patient_id": "P1", "nhs_number": "9434765919"}]),
        "mhsds.MHS001MPI": _mpi([{"LocalPatientId": "M9", "NHSNumber": None, "nhs_number_check": "missing"}]),
    }
    seen = {}

    def linker(records):
        seen["trusted"] = dict(zip(records["local_patient_id"].to_pylist(), records["trusted"].to_pylist()))
        ids = records["unique_id"].to_pylist()
        return ScoredPairs(pairs=pa.table({"unique_id_l": [min(ids)], "unique_id_r": [max(ids)],
                                           "match_weight": [20.0], "match_probability": [0.99999]}), pairs_compared=1)

    index = build_person_index(staged, linker=linker)
    assert seen["trusted"] == {"P1": True, "M9": False}
    assert index.persons.num_rows == 1
    assert index.persons["nhs_number"].to_pylist() == ["9434765919"]
    assert set(index.links["person_id"].to_pylist()) == {person_id_for_nhs_number("9434765919")}
    assert index.summary()["records_linked_probabilistically"] == 1
    assert index.summary()["pairs_compared"] == 1 and index.bands["high"] == 1


def test_person_holds_its_verified_nhs_number_even_when_its_gp_record_has_none():
    staged = {
        "gp.patient": _gp_patient([{"patient_id": "P1", "nhs_number": None, "nhs_number_check": "invalid"}]),
        "mhsds.MHS001MPI": _mpi([{"LocalPatientId": "M1", "NHSNumber": "9434765919"}]),
    }

    def linker(records):
        return ScoredPairs(pairs=pa.table({"unique_id_l": [1], "unique_id_r": [2], "match_weight": [20.0],
                                           "match_probability": [0.99999]}))

    person = build_person_index(staged, linker=linker).persons.to_pylist()
    assert len(person) == 1
    assert person[0]["nhs_number"] == "9434765919" and person[0]["nhs_number_verified"] is True
    assert person[0]["ethnic_category"] == "A"  # demographics still from the GP record


def test_previous_assignment_keeps_ids_and_records_the_merge():
    staged = {
        "gp.patient": _gp_patient([{"patient_id": "P1", "nhs_number": "9434765919"}]),
        "vcse.person": pa.Table.from_pylist([{"provider_ods": "8ZZ01", "reporting_month": "2025-04", "person_id": "V1",
                                              "nhs_number": None, "nhs_number_check": "missing", "given_name": "Ann",
                                              "family_name": "Lee", "birth_date": D(1980, 1, 2), "sex": "F"}]),
    }
    first = build_person_index(staged, run="run1")
    assert person_id_for_record("vcse", "8ZZ01", "V1") in first.links["person_id"].to_pylist()

    def linker(records):
        return ScoredPairs(pairs=pa.table({"unique_id_l": [1], "unique_id_r": [2], "match_weight": [20.0],
                                           "match_probability": [0.99999]}))

    second = build_person_index(staged, linker=linker, previous=first.assignment, run="run2")
    assert set(second.links["person_id"].to_pylist()) == {person_id_for_nhs_number("9434765919")}
    assert second.assignment.retired.select(["retired_id", "surviving_id"]).to_pylist() == [
        {"retired_id": person_id_for_record("vcse", "8ZZ01", "V1"), "surviving_id": person_id_for_nhs_number("9434765919")}]
