"""A small hand-made integrated care system: one person known to a GP practice, the trust,
Talking Therapies and a VCSE, plus edge cases (unlinked people, unknown codes, orphan rows)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest

from carebridge.core.ids import person_id_for_nhs_number, person_id_for_record
from carebridge.core.reference import load_reference

D = dt.date
TS = dt.datetime

_TYPES = {
    "date": pa.date32(), "timestamp": pa.timestamp("s"), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
}
# Typed columns of the extract contract (extracts.md); everything else is text.
COLUMN_TYPES = {
    "registration_start": "date", "registration_end": "date", "birth_date": "date", "type1_objection": "bool",
    "event_date": "date", "value": "float", "referral_date": "date", "start": "timestamp",
    "duration_minutes": "int", "ReferralRequestReceivedDate": "date", "ReferRejectionDate": "date",
    "ServDischDate": "date", "CareContDate": "date", "ClinContDurOfCareCont": "int", "CarePlanCreatDate": "date",
    "CarePlanLastUpdateDate": "date", "CarePlanImplementationDate": "date", "PersScore": "float",
    "AssToolCompTimestamp": "timestamp", "closed_date": "date", "contact_date": "date", "attended": "bool",
    "created_date": "date", "recorded_date": "date", "source_line": "int",
}

NHS_1 = "9434765919"
PERSON_1 = person_id_for_nhs_number(NHS_1)
PERSON_2 = person_id_for_record("gp", "Z90002", "G2")


def staged_table(source: str, ods: str, rows: list[dict[str, Any]], month: str = "2025-03") -> pa.Table:
    """Rows of one staged table with the lineage columns staging adds."""
    full = [{**r, "provider_ods": ods, "reporting_month": month, "submission_id": f"{month.replace('-', '')}01T0900",
             "source_file": f"{source}/{ods}/{month}/x.csv", "source_line": i + 2} for i, r in enumerate(rows)]
    columns = list(full[0]) if full else []
    return pa.table({c: pa.array([r.get(c) for r in full], _TYPES.get(COLUMN_TYPES.get(c, ""), pa.string()))
                     for c in columns})


@dataclass(frozen=True)
class FakeIndex:
    links: pa.Table
    persons: pa.Table


def person_index(links: list[tuple[str, str, str, str]], persons: list[dict[str, Any]]) -> FakeIndex:
    link_table = pa.table({
        "source": [l[0] for l in links], "provider_ods": [l[1] for l in links],
        "local_patient_id": [l[2] for l in links], "person_id": [l[3] for l in links],
        "match_method": ["nhs_number" if l[3] == PERSON_1 else "unlinked" for l in links]})
    cols = {"person_id": pa.string(), "nhs_number": pa.string(), "nhs_number_verified": pa.bool_(),
            "given_name": pa.string(), "family_name": pa.string(), "birth_date": pa.date32(), "gender": pa.string(),
            "ethnic_category": pa.string(), "postcode": pa.string(), "lsoa_code": pa.string(),
            "gp_practice_ods": pa.string(), "registration_start": pa.date32(), "registration_end": pa.date32(),
            "type1_objection": pa.bool_(), "death_date": pa.date32()}
    return FakeIndex(link_table, pa.table({c: pa.array([p.get(c) for p in persons], t) for c, t in cols.items()}))


def scenario_staged() -> dict[str, pa.Table]:
    return {
        "gp.patient": staged_table("gp", "Z90001", [
            {"patient_id": "G1", "nhs_number": NHS_1, "nhs_number_check": "valid", "birth_date": D(1990, 5, 1),
             "sex": "F", "registration_start": D(2020, 1, 1), "registration_end": None},
        ], month="2025-01"),
        "gp.referral": staged_table("gp", "Z90001", [
            {"referral_id": "R1", "patient_id": "G1", "referral_date": D(2025, 1, 10),
             "snomed_code": "24921000000109", "target_ods": "RZZ", "target_service": "A06", "priority": "urgent",
             "ubrn": None},
            {"referral_id": "R2", "patient_id": "G1", "referral_date": D(2025, 2, 1),
             "snomed_code": "1037451000000103", "target_ods": "RZY", "target_service": "talking therapies",
             "priority": "routine", "ubrn": "000012345678"},
            {"referral_id": "R3", "patient_id": "G1", "referral_date": D(2025, 2, 20),
             "snomed_code": "871731000000106", "target_ods": "8ZZ01", "target_service": None,
             "priority": None, "ubrn": None},
            {"referral_id": "R4", "patient_id": "GX", "referral_date": D(2025, 2, 20),
             "snomed_code": "871731000000106", "target_ods": "8ZZ01", "target_service": None,
             "priority": None, "ubrn": None},
        ]),
        "gp.appointment": staged_table("gp", "Z90001", [
            {"appointment_id": "A1", "patient_id": "G1", "start": TS(2025, 1, 5, 9, 30), "duration_minutes": 20,
             "staff_role": "MHP", "mode": "home_visit", "status": "did_not_attend", "consultation_id": "K1"},
            {"appointment_id": "A2", "patient_id": "G1", "start": TS(2025, 1, 6, 9, 30), "duration_minutes": 10,
             "staff_role": "GP", "mode": "face_to_face", "status": "attended", "consultation_id": "K2"},
        ]),
        "gp.coded_event": staged_table("gp", "Z90001", [
            {"event_id": "E1", "patient_id": "G1", "event_date": D(2025, 1, 5), "snomed_code": "720433000",
             "value": 15.0, "consultation_id": "K1", "staff_role": "GP"},
            {"event_id": "E2", "patient_id": "G1", "event_date": D(2025, 1, 5), "snomed_code": "35489007",
             "value": None, "consultation_id": "K1", "staff_role": "GP"},
            {"event_id": "E3", "patient_id": "G1", "event_date": D(2025, 1, 6), "snomed_code": "736253002",
             "value": None, "consultation_id": None, "staff_role": "MHP"},
            {"event_id": "E4", "patient_id": "G1", "event_date": D(2025, 1, 6), "snomed_code": "999999999",
             "value": None, "consultation_id": None, "staff_role": "GP"},
            {"event_id": "E5", "patient_id": "G1", "event_date": D(2025, 1, 6), "snomed_code": "445455005",
             "value": None, "consultation_id": None, "staff_role": "GP"},
            {"event_id": "E6", "patient_id": "G1", "event_date": D(2025, 1, 7), "snomed_code": "24921000000109",
             "value": None, "consultation_id": None, "staff_role": "GP"},
        ]),
        "mhsds.MHS101Referral": staged_table("mhsds", "RZZ", [
            {"ServiceRequestId": "S1", "LocalPatientId": "M1", "OrgIDReferringOrg": "Z90001",
             "SourceOfReferralMH": "A1", "ReferralRequestReceivedDate": D(2025, 1, 15), "ClinRespPriorityType": "2",
             "PrimReasonReferralMH": "04", "ServTeamTypeRefToMH": "A06", "ReferRejectionDate": None,
             "ReferRejectReason": None, "ServDischDate": None},
            {"ServiceRequestId": "S2", "LocalPatientId": "M1", "OrgIDReferringOrg": "Z90001",
             "SourceOfReferralMH": "A1", "ReferralRequestReceivedDate": D(2025, 1, 20), "ClinRespPriorityType": "3",
             "PrimReasonReferralMH": "05", "ServTeamTypeRefToMH": "A99", "ReferRejectionDate": D(2025, 1, 27),
             "ReferRejectReason": "02", "ServDischDate": None},
        ]),
        "mhsds.MHS201CareContact": staged_table("mhsds", "RZZ", [
            {"CareContactId": "C1", "ServiceRequestId": "S1", "LocalPatientId": "M1", "CareContDate": D(2025, 1, 20),
             "ClinContDurOfCareCont": 45, "ConsMechanismMH": "01", "AttendStatus": "6", "ActLocTypeCode": None},
            {"CareContactId": "C2", "ServiceRequestId": "S1", "LocalPatientId": "M1", "CareContDate": D(2025, 2, 3),
             "ClinContDurOfCareCont": None, "ConsMechanismMH": "11", "AttendStatus": "7", "ActLocTypeCode": None},
            {"CareContactId": "C3", "ServiceRequestId": "S1", "LocalPatientId": "M404", "CareContDate": D(2025, 2, 3),
             "ClinContDurOfCareCont": None, "ConsMechanismMH": "02", "AttendStatus": "5", "ActLocTypeCode": None},
        ]),
        "mhsds.MHS008CarePlanType": staged_table("mhsds", "RZZ", [
            {"CarePlanID": "CP1", "LocalPatientId": "M1", "CarePlanTypeMH": "12", "CarePlanCreatDate": D(2025, 1, 21),
             "CarePlanLastUpdateDate": D(2025, 2, 1), "CarePlanImplementationDate": D(2025, 1, 22)},
        ]),
        "mhsds.MHS606CodedScoreAssessmentRefer": staged_table("mhsds", "RZZ", [
            {"AssessmentId": "AS1", "ServiceRequestId": "S1", "CodedAssToolType": "1091071000000100",
             "PersScore": 22.0, "AssToolCompTimestamp": TS(2025, 1, 20, 10, 0)},
            {"AssessmentId": "AS2", "ServiceRequestId": "S404", "CodedAssToolType": "1091071000000100",
             "PersScore": 25.0, "AssToolCompTimestamp": TS(2025, 2, 20, 10, 0)},
        ]),
        "talking_therapies.IDS101Referral": staged_table("talking_therapies", "RZY", [
            {"ServiceRequestId": "TS1", "LocalPatientId": "T1", "SourceOfReferralIAPT": "A1",
             "ReferralRequestReceivedDate": D(2025, 2, 20), "PresentingComplaint": "F41.1", "ServDischDate": None,
             "EndCode": None, "ubrn": "000012345678"},
        ]),
        "talking_therapies.IDS201CareContact": staged_table("talking_therapies", "RZY", [
            {"CareContactId": "TC1", "ServiceRequestId": "TS1", "LocalPatientId": "T1",
             "CareContDate": D(2025, 2, 25), "AppType": "02", "ConsMechanism": "02", "AttendStatus": "5"},
        ]),
        "talking_therapies.IDS606CodedScoreAssessmentRefer": staged_table("talking_therapies", "RZY", [
            {"AssessmentId": "TA1", "ServiceRequestId": "TS1", "CodedAssToolType": "720433000", "PersScore": 14.0,
             "AssToolCompTimestamp": TS(2025, 2, 25, 11, 0)},
            {"AssessmentId": "TA2", "ServiceRequestId": "TS1", "CodedAssToolType": "WSAS", "PersScore": 18.0,
             "AssToolCompTimestamp": TS(2025, 2, 25, 11, 0)},
        ]),
        "vcse.referral": staged_table("vcse", "8ZZ01", [
            {"referral_id": "VR1", "person_id": "V1", "referral_date": D(2025, 3, 1), "referrer_type": "gp",
             "referrer_ods": "Z90001", "need_domains": "isolation;housing", "status": "accepted", "closed_date": None},
            {"referral_id": "VR9", "person_id": "V9", "referral_date": D(2025, 3, 2), "referrer_type": "self",
             "referrer_ods": None, "need_domains": "debt_benefits", "status": "declined", "closed_date": None},
        ]),
        "vcse.contact": staged_table("vcse", "8ZZ01", [
            {"contact_id": "VC1", "referral_id": "VR1", "contact_date": D(2025, 3, 5), "mode": "telephone",
             "attended": True, "activity": "link_worker_session"},
            {"contact_id": "VC2", "referral_id": "NOPE", "contact_date": D(2025, 3, 6), "mode": "telephone",
             "attended": False, "activity": "advice"},
        ]),
        "vcse.plan": staged_table("vcse", "8ZZ01", [
            {"plan_id": "VP1", "referral_id": "VR1", "created_date": D(2025, 3, 5), "domain": "isolation",
             "goal_text": "Join a walking group", "status": "achieved"},
        ]),
        "vcse.wellbeing_score": staged_table("vcse", "8ZZ01", [
            {"score_id": "W1", "referral_id": "VR1", "measure": "ONS4", "item": "life_satisfaction", "value": 4.0,
             "recorded_date": D(2025, 3, 5)},
            {"score_id": "W2", "referral_id": "VR1", "measure": "SWEMWBS", "item": "total", "value": 19.25,
             "recorded_date": D(2025, 3, 5)},
        ]),
    }


def scenario_index() -> FakeIndex:
    return person_index(
        links=[("gp", "Z90001", "G1", PERSON_1), ("mhsds", "RZZ", "M1", PERSON_1),
               ("talking_therapies", "RZY", "T1", PERSON_1), ("vcse", "8ZZ01", "V1", PERSON_1),
               ("gp", "Z90002", "G2", PERSON_2)],
        persons=[
            {"person_id": PERSON_1, "nhs_number": NHS_1, "nhs_number_verified": True, "given_name": "Ada",
             "family_name": "Lovelace", "birth_date": D(1990, 5, 1), "gender": "female", "ethnic_category": "A",
             "postcode": "ZZ1 1AA", "lsoa_code": "E01900001", "gp_practice_ods": "Z90001",
             "registration_start": D(2020, 1, 1), "type1_objection": False},
            {"person_id": PERSON_2, "nhs_number": None, "nhs_number_verified": False, "birth_date": D(1970, 1, 1),
             "gender": "male", "gp_practice_ods": "Z90002"},
        ])


@pytest.fixture(scope="session")
def reference():
    return load_reference()


@pytest.fixture(scope="session")
def staged() -> dict[str, pa.Table]:
    return scenario_staged()


@pytest.fixture(scope="session")
def index() -> FakeIndex:
    return scenario_index()


@pytest.fixture(scope="session")
def result(staged, index, reference):
    from fhir_mapping import map_resources

    return map_resources(staged, index, reference)


def by_local_id(result, resource_type: str, local_id: str) -> dict[str, Any]:
    """The resource of `resource_type` whose usual identifier is `local_id`."""
    hits = [r for r in result.resources[resource_type]
            if any(i.get("use") == "usual" and i["value"] == local_id for i in r.get("identifier", []))]
    assert len(hits) == 1, f"{resource_type} {local_id}: {len(hits)} found"
    return hits[0]


@pytest.fixture(scope="session")
def find(result):
    """`find("Encounter", "C1")`: the scenario's resource made from local record C1."""
    return lambda resource_type, local_id: by_local_id(result, resource_type, local_id)


@pytest.fixture(scope="session")
def build():
    """Builders for hand-made inputs (tests import nothing from conftest: pytest runs in importlib mode)."""
    return SimpleNamespace(staged_table=staged_table, person_index=person_index, scenario_staged=scenario_staged,
                           scenario_index=scenario_index, by_local_id=by_local_id,
                           NHS_1=NHS_1, PERSON_1=PERSON_1, PERSON_2=PERSON_2)


# --- a small ViewDefinition runner on fhirpathpy, to check the views independently of warehouse.viewdef ----

def _key_functions() -> dict[str, Any]:
    def reference_key(inputs: list[Any], type_=None) -> list[str]:
        wanted = getattr(type_, "name", None)
        refs = [i.get("reference", "") for i in inputs if isinstance(i, dict)]
        return [r.split("/", 1)[1] for r in refs if "/" in r and (wanted is None or r.split("/", 1)[0] == wanted)]

    return {
        "getResourceKey": {"fn": lambda inputs: [i["id"] for i in inputs if isinstance(i, dict) and "id" in i],
                           "arity": {0: []}},
        "getReferenceKey": {"fn": reference_key, "arity": {0: [], 1: ["TypeSpecifier"]}},
    }


def fhirpathpy_view(view: dict[str, Any], resources: list[dict[str, Any]]) -> pa.Table:
    """Evaluate a flat ViewDefinition (columns, constants, where) with fhirpathpy: one row per resource."""
    from fhirpathpy import evaluate
    from fhirpathpy.models import models

    constants = {c["name"]: next(v for k, v in c.items() if k.startswith("value")) for c in view.get("constant", [])}
    options = {"userInvocationTable": _key_functions()}
    columns = [c for s in view["select"] for c in s["column"]]

    def cell(resource: dict[str, Any], path: str) -> Any:
        values = evaluate(resource, path, constants, models["r4"], options=options)
        assert len(values) <= 1, (path, values)
        return values[0] if values else None

    rows = [r for r in resources if r["resourceType"] == view["resource"]
            and all(cell(r, w["path"]) for w in view.get("where", []))]
    return pa.table({c["name"]: [cell(r, c["path"]) for r in rows] for c in columns})


@pytest.fixture(scope="session", params=["warehouse.viewdef", "fhirpathpy"])
def run_view(request):
    """Both view engines: the project's runner (when present) and the fhirpathpy harness above."""
    if request.param == "fhirpathpy":
        return fhirpathpy_view
    try:
        from warehouse.viewdef import evaluate
    except ImportError:
        try:
            from warehouse.viewdef.reference import evaluate
        except ImportError:
            pytest.skip("warehouse.viewdef is not there yet")
    return evaluate
