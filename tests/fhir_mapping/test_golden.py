"""One golden example per source table: a source row in, the exact resource fields out."""

from __future__ import annotations

import datetime as dt

from carebridge.core.ids import organisation_id, person_id_for_nhs_number, person_id_for_record, record_id, service_id
from fhir_mapping import map_resources

NHS_1 = "9434765919"
PERSON_1 = person_id_for_nhs_number(NHS_1)
PERSON_2 = person_id_for_record("gp", "Z90002", "G2")

SCT = "http://snomed.info/sct"
CB = "https://fhir.carebridge.org.uk"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"


def org(ods):
    return {"reference": f"Organization/{organisation_id(ods)}", "identifier": {"system": ODS, "value": ods}}


def svc(ods, code):
    return {"reference": f"HealthcareService/{service_id(ods, code)}",
            "identifier": {"system": f"{CB}/Id/healthcare-service", "value": f"{ods}|{code}"}}


def usual(source, ods, table, value):
    return {"use": "usual", "system": f"{CB}/Id/{source}/{ods}/{table}", "value": value, "assigner": org(ods)}


def sr_ref(source, ods, table, local_id):
    return {"reference": f"ServiceRequest/{record_id(source, ods, table, local_id)}",
            "identifier": {"system": f"{CB}/Id/{source}/{ods}/{table}", "value": local_id}}


SUBJECT_1 = {"reference": f"Patient/{PERSON_1}", "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number",
                                                                "value": NHS_1}}


def meta(rtype, tag):
    return {"profile": [f"https://fhir.hl7.org.uk/StructureDefinition/UKCore-{rtype}"],
            "tag": [{"system": f"{CB}/CodeSystem/record-source", "code": tag}]}


def test_mhs101_referral_becomes_service_request(find):
    assert find("ServiceRequest", "S1") == {
        "resourceType": "ServiceRequest",
        "id": record_id("mhsds", "RZZ", "MHS101Referral", "S1"),
        "meta": meta("ServiceRequest", "mhsds|RZZ"),
        "extension": [{"url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-SourceOfServiceRequest",
                       "valueCodeableConcept": {"coding": [{
                           "system": f"{CB}/CodeSystem/mhsds-source-of-referral", "code": "A1",
                           "display": "General medical practitioner"}]}}],
        "identifier": [usual("mhsds", "RZZ", "MHS101Referral", "S1")],
        "basedOn": [sr_ref("gp", "Z90001", "referral", "R1")],
        "status": "active",
        "intent": "order",
        "category": [{"coding": [{"system": f"{CB}/CodeSystem/setting", "code": "secondary"}]}],
        "priority": "urgent",
        "code": {"coding": [{"system": f"{CB}/CodeSystem/service-type", "code": "A06",
                             "display": "Community mental health team - functional"}]},
        "subject": SUBJECT_1,
        "authoredOn": "2025-01-15",
        "requester": org("Z90001"),
        "performer": [svc("RZZ", "A06")],
        "reasonCode": [{"coding": [{"system": f"{CB}/CodeSystem/mhsds-primary-reason-for-referral", "code": "04",
                                    "display": "Depression"}]}],
    }


def test_rejected_mhs101_referral_is_revoked_with_rejection_date_and_no_episode(result, find):
    sr = find("ServiceRequest", "S2")
    assert sr["status"] == "revoked"
    assert {"url": f"{CB}/StructureDefinition/referral-rejection-date", "valueDate": "2025-01-27"} in sr["extension"]
    assert sr["id"] not in {e["id"] for e in result.resources["EpisodeOfCare"]}


def test_gp_referral_becomes_service_request_with_ubrn(find):
    sr = find("ServiceRequest", "R2")
    assert sr["identifier"][1] == {"use": "official", "system": "https://fhir.nhs.uk/Id/UBRN", "value": "000012345678"}
    assert sr["code"]["coding"] == [{"system": SCT, "code": "1037451000000103",
                                     "display": "Referral for psychological management of anxiety"}]
    assert sr["category"][0]["coding"][0]["code"] == "talking_therapies"
    assert sr["performer"] == [svc("RZY", "TT")]        # the provider's only service
    assert sr["requester"] == org("Z90001")
    assert sr["priority"] == "routine" and sr["authoredOn"] == "2025-02-01" and sr["status"] == "active"
    assert "basedOn" not in sr and sr["meta"]["tag"][0]["code"] == "gp|Z90001"


def test_ids101_referral_reason_and_source(find):
    sr = find("ServiceRequest", "TS1")
    assert sr["reasonCode"] == [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "F41.1"}]}]
    assert sr["extension"][0]["valueCodeableConcept"]["coding"][0]["system"] == f"{CB}/CodeSystem/iapt-source-of-referral"
    assert sr["performer"] == [svc("RZY", "TT")]
    assert sr["basedOn"] == [sr_ref("gp", "Z90001", "referral", "R2")]


def test_vcse_referral_needs_and_referrer(find):
    sr = find("ServiceRequest", "VR1")
    assert [c["coding"][0]["code"] for c in sr["reasonCode"]] == ["isolation", "housing"]
    assert sr["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "gp"
    assert sr["requester"] == org("Z90001") and sr["performer"] == [svc("8ZZ01", "SP")]


def test_accepted_referral_becomes_episode_of_care(result, find):
    episode = find("EpisodeOfCare", "S1")
    assert episode["status"] == "active"
    assert episode["period"] == {"start": "2025-01-15"}
    assert episode["managingOrganization"] == org("RZZ")
    assert episode["referralRequest"] == [sr_ref("mhsds", "RZZ", "MHS101Referral", "S1")]
    assert episode["type"][0]["coding"][0]["code"] == "A06"
    assert {e["identifier"][0]["value"] for e in result.resources["EpisodeOfCare"]} == {"S1", "TS1", "VR1"}


def test_mhs201_care_contact_becomes_encounter(find):
    enc = find("Encounter", "C1")
    assert enc == {
        "resourceType": "Encounter",
        "id": record_id("mhsds", "RZZ", "MHS201CareContact", "C1"),
        "meta": meta("Encounter", "mhsds|RZZ"),
        "extension": [
            {"url": f"{CB}/StructureDefinition/attendance", "valueCodeableConcept": {"coding": [
                {"system": f"{CB}/CodeSystem/mhsds-attend-status", "code": "6"},
                {"system": f"{CB}/CodeSystem/attendance", "code": "attended"}]}},
            {"url": f"{CB}/StructureDefinition/contact-mechanism", "valueCodeableConcept": {"coding": [
                {"system": f"{CB}/CodeSystem/mhsds-consultation-mechanism", "code": "01"},
                {"system": f"{CB}/CodeSystem/contact-mechanism", "code": "face_to_face"}]}},
            {"url": f"{CB}/StructureDefinition/healthcare-service", "valueReference": svc("RZZ", "A06")}],
        "identifier": [usual("mhsds", "RZZ", "MHS201CareContact", "C1")],
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": "ambulatory"},
        "serviceType": {"coding": [{"system": f"{CB}/CodeSystem/service-type", "code": "A06",
                                    "display": "Community mental health team - functional"}]},
        "subject": SUBJECT_1,
        "episodeOfCare": [{"reference": f"EpisodeOfCare/{record_id('mhsds', 'RZZ', 'MHS101Referral', 'S1')}",
                           "identifier": {"system": f"{CB}/Id/mhsds/RZZ/MHS101Referral", "value": "S1"}}],
        "basedOn": [sr_ref("mhsds", "RZZ", "MHS101Referral", "S1")],
        "period": {"start": "2025-01-20"},
        "length": {"value": 45, "unit": "min", "system": "http://unitsofmeasure.org", "code": "min"},
        "serviceProvider": org("RZZ"),
    }


def test_late_not_seen_video_contact_keeps_source_code(find):
    enc = find("Encounter", "C2")
    assert enc["status"] == "cancelled"
    assert enc["class"]["code"] == "VR"
    assert [c["code"] for c in enc["extension"][0]["valueCodeableConcept"]["coding"]] == ["7", "did_not_attend"]
    assert [c["code"] for c in enc["extension"][1]["valueCodeableConcept"]["coding"]] == ["11", "video"]


def test_ids201_contact_has_appointment_type(find):
    enc = find("Encounter", "TC1")
    assert enc["type"] == [{"coding": [{"system": f"{CB}/CodeSystem/iapt-appointment-type", "code": "02",
                                        "display": "Treatment"}]}]
    assert enc["basedOn"] == [sr_ref("talking_therapies", "RZY", "IDS101Referral", "TS1")]
    assert enc["class"]["code"] == "VR"


def test_gp_mental_health_appointment_becomes_home_encounter(find):
    enc = find("Encounter", "A1")
    assert enc["class"]["code"] == "HH" and enc["status"] == "cancelled"
    assert enc["participant"] == [{"type": [{"coding": [{"system": f"{CB}/CodeSystem/staff-role", "code": "MHP"}]}]}]
    assert enc["extension"][0]["valueCodeableConcept"]["coding"][0] == {
        "system": f"{CB}/CodeSystem/gp-appointment-status", "code": "did_not_attend"}
    assert enc["extension"][2]["valueReference"] == svc("Z90001", "MHP")
    assert enc["period"] == {"start": "2025-01-05"} and enc["length"]["value"] == 20
    assert "basedOn" not in enc


def test_vcse_contact_encounter(find):
    enc = find("Encounter", "VC1")
    assert [c["code"] for c in enc["extension"][0]["valueCodeableConcept"]["coding"]] == ["true", "attended"]
    assert enc["type"] == [{"coding": [{"system": f"{CB}/CodeSystem/vcse-activity", "code": "link_worker_session"}]}]
    assert enc["serviceProvider"] == org("8ZZ01")


def test_mhs008_crisis_care_plan(find):
    plan = find("CarePlan", "CP1")
    assert plan["status"] == "active" and plan["intent"] == "plan"
    assert plan["category"] == [
        {"coding": [{"system": f"{CB}/CodeSystem/mhsds-care-plan-type", "code": "12"}]},
        {"coding": [{"system": f"{CB}/CodeSystem/care-plan-kind", "code": "crisis"}]}]
    assert plan["created"] == "2025-01-21" and plan["period"] == {"start": "2025-01-22"}
    assert {"url": f"{CB}/StructureDefinition/care-plan-last-updated", "valueDate": "2025-02-01"} in plan["extension"]
    assert plan["author"] == org("RZZ") and plan["subject"] == SUBJECT_1


def test_gp_care_plan_code_becomes_crisis_care_plan(find):
    plan = find("CarePlan", "E3")
    assert plan["category"][0]["coding"][0]["code"] == "736253002"
    assert plan["category"][1]["coding"][0]["code"] == "crisis"


def test_vcse_plan_with_goal(find):
    plan = find("CarePlan", "VP1")
    goal = find("Goal", "VP1")
    assert plan["goal"] == [{"reference": f"Goal/{goal['id']}",
                             "identifier": {"system": f"{CB}/Id/vcse/8ZZ01/plan", "value": "VP1"}}]
    assert plan["status"] == "completed"
    assert plan["supportingInfo"] == [sr_ref("vcse", "8ZZ01", "referral", "VR1")]
    assert goal["description"] == {"text": "Join a walking group"}
    assert goal["lifecycleStatus"] == "completed"
    assert goal["achievementStatus"]["coding"][0]["code"] == "achieved"


def test_mhs606_score_becomes_observation(find):
    obs = find("Observation", "AS1")
    # ReQoL-10's concept, with its preferred term (codes.yaml snomed_terms)
    assert obs["code"]["coding"][0] == {"system": SCT, "code": "1091071000000100",
                                        "display": "Recovering Quality of Life 10-item questionnaire score"}
    assert obs["valueQuantity"] == {"value": 22, "unit": "score", "system": "http://unitsofmeasure.org",
                                    "code": "{score}"}
    assert obs["effectiveDateTime"] == "2025-01-20" and obs["status"] == "final"
    assert obs["basedOn"] == [sr_ref("mhsds", "RZZ", "MHS101Referral", "S1")]
    assert obs["subject"] == SUBJECT_1


def test_ids606_phq9_has_loinc_and_wsas_uses_carebridge_measure(find):
    phq = find("Observation", "TA1")
    assert [(c["system"], c["code"]) for c in phq["code"]["coding"]] == [
        (SCT, "720433000"), ("http://loinc.org", "44261-6"), (f"{CB}/CodeSystem/measure", "PHQ9")]
    wsas = find("Observation", "TA2")
    assert wsas["code"]["coding"][0]["system"] == f"{CB}/CodeSystem/measure"
    assert wsas["code"]["coding"][0]["code"] == "WSAS"


def test_gp_score_code_becomes_observation(find):
    obs = find("Observation", "E1")
    assert obs["code"]["coding"][0]["code"] == "720433000" and obs["valueQuantity"]["value"] == 15
    assert obs["performer"] == [org("Z90001")] and "basedOn" not in obs


def test_vcse_wellbeing_scores(find):
    ons = find("Observation", "W1")
    assert [(c["system"], c["code"]) for c in ons["code"]["coding"]] == [
        (f"{CB}/CodeSystem/measure", "ONS4_LIFE_SATISFACTION"), (f"{CB}/CodeSystem/wellbeing-item", "life_satisfaction")]
    swemwbs = find("Observation", "W2")
    assert swemwbs["code"]["coding"][0]["code"] == "718466001"
    assert swemwbs["valueQuantity"]["value"] == 19.25


def test_gp_diagnosis_becomes_condition(find):
    cond = find("Condition", "E2")
    assert cond["code"] == {"coding": [{"system": SCT, "code": "35489007", "display": "Depressive disorder"}]}
    assert cond["recordedDate"] == "2025-01-05"
    assert cond["meta"] == meta("Condition", "gp|Z90001")
    assert cond["clinicalStatus"]["coding"][0]["code"] == "active"


def test_patient_carries_verified_nhs_number_and_every_local_id(result):
    patient = next(p for p in result.resources["Patient"] if p["id"] == PERSON_1)
    nhs = patient["identifier"][0]
    assert nhs["system"] == "https://fhir.nhs.uk/Id/nhs-number" and nhs["value"] == NHS_1
    assert nhs["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "01"
    assert [(i["system"], i["value"]) for i in patient["identifier"][1:]] == [
        (f"{CB}/Id/gp/Z90001/patient", "G1"), (f"{CB}/Id/mhsds/RZZ/patient", "M1"),
        (f"{CB}/Id/talking_therapies/RZY/patient", "T1"), (f"{CB}/Id/vcse/8ZZ01/patient", "V1")]
    assert patient["birthDate"] == "1990-05-01" and patient["gender"] == "female"
    assert patient["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "A"
    assert patient["generalPractitioner"] == [org("Z90001")]
    assert patient["address"] == [{"postalCode": "ZZ1 1AA", "extension": [
        {"url": f"{CB}/StructureDefinition/lsoa-code", "valueString": "E01900001"}]}]
    assert patient["meta"]["tag"][0]["code"] == "index|person"


def test_patient_without_verified_number_has_no_nhs_identifier(result):
    patient = next(p for p in result.resources["Patient"] if p["id"] == PERSON_2)
    assert [i["system"] for i in patient["identifier"]] == [f"{CB}/Id/gp/Z90002/patient"]
    assert "name" not in patient


def test_organizations_from_reference_and_unknown_codes(result):
    orgs = {o["identifier"][0]["value"]: o for o in result.resources["Organization"]}
    assert orgs["Z90001"]["name"] == "Riverside Medical Centre"
    assert orgs["Z90001"]["partOf"] == org("U90001")
    # UKCore-OrganizationType first (HL7 organization-type), then the reference data's kind
    assert orgs["Z90001"]["type"][0]["coding"] == [
        {"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "prov",
         "display": "Healthcare Provider"},
        {"system": f"{CB}/CodeSystem/organisation-kind", "code": "gp_practice"}]
    assert orgs["Z90001"]["id"] == organisation_id("Z90001")
    assert orgs["Z90001"]["meta"]["tag"][0]["code"] == "reference|Z90001"


def test_unknown_team_type_is_kept_as_unnamed_service_with_warning(result):
    services = {s["identifier"][0]["value"]: s for s in result.resources["HealthcareService"]}
    unknown = services["RZZ|A99"]
    assert "name" not in unknown and unknown["providedBy"] == org("RZZ")
    assert unknown["category"][0]["coding"][0]["code"] == "secondary"
    assert any("RZZ|A99" in w for w in result.warnings)
    known = services["RZZ|A06"]
    assert known["name"] == "Community mental health team - functional"
    assert known["characteristic"][0]["coding"][0]["code"] == "place"
    assert known["id"] == service_id("RZZ", "A06")


def test_contact_naming_an_unmapped_referral_is_kept_with_a_warning(build, reference, index):
    staged = {"mhsds.MHS201CareContact": build.staged_table("mhsds", "RZZ", [
        {"CareContactId": "C9", "ServiceRequestId": "S404", "LocalPatientId": "M1",
         "CareContDate": dt.date(2025, 1, 2), "AttendStatus": "5"}])}
    result = map_resources(staged, index, reference)
    (enc,) = result.resources["Encounter"]
    assert "basedOn" not in enc and "episodeOfCare" not in enc and enc["status"] == "finished"
    assert any("mhsds.MHS201CareContact" in w for w in result.warnings)
