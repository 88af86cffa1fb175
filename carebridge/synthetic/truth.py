"""The ground truth: the logical records a correct pipeline should end up with, before faults.

Tables and columns are documented in TRUTH.md; every table is built here from the logical frames
(after censoring), never from the landing files.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from carebridge.core.reference import Reference, codes

from .local_ids import format_ids, record_ids, referral_ids, table_prefix
from .population import Population
from .render import NUMBER_FIELD
from .transitions import transitions
from .vector import map_values

__all__ = ["persons_truth", "records_truth", "referrals_truth", "contacts_truth",
           "care_plans_truth", "scores_truth", "setting_lookup"]

# attendance codes that mean the person was seen: MHSDS/IAPT, GP appointment status, VCSE attended flag
_ATTENDED_CODES = sorted({k for k, v in codes()["attend_status"].items() if v["outcome"] == "attended"}
                         | {k for k, v in codes()["gp_appointment_status"].items() if v == "attended"} | {"true"})
_KIND_SETTING = {"gp_practice": "primary", "mh_trust": "secondary", "talking_therapies": "talking_therapies",
                 "vcse": "vcse"}


def _np(column: pa.ChunkedArray) -> np.ndarray:
    return column.to_numpy(zero_copy_only=False)


def setting_lookup(reference: Reference) -> dict[tuple[str, str], str]:
    """(provider, service code) -> setting from services.csv; other services of an organisation
    take the setting of its kind (a VCSE's `SP`: vcse)."""
    services = reference.services.to_pydict()
    rows = zip(services["provider_ods"], services["service_code"], services["setting"])
    lookup = {(provider, service): setting for provider, service, setting in rows}
    for ods, kind in reference.organisation_kinds().items():
        lookup.setdefault((ods, "*"), _KIND_SETTING.get(kind, "primary"))
    return lookup


def _settings(lookup: dict, provider: np.ndarray, service: np.ndarray) -> np.ndarray:
    return np.array([lookup.get((p, s), lookup.get((p, "*"))) for p, s in zip(provider, service)], dtype=object)


def persons_truth(people: Population, coded_events: pa.Table) -> pa.Table:
    smi_codes = [c for c, body in codes()["gp_snomed"].items() if body["kind"] == "smi_register"]
    on_register = np.zeros(len(people), dtype=bool)
    on_register[_np(coded_events.filter(pc.is_in(coded_events["code"], pa.array(smi_codes)))["person"])] = True
    return pa.table({
        "person_id": pa.array(people.person_id, pa.string()),
        "nhs_number": pa.array(people.nhs_number, pa.string()),
        "given_name": pa.array(people.given_name, pa.string()),
        "family_name": pa.array(people.family_name, pa.string()),
        "birth_date": pa.array(people.birth_date, pa.date32()),
        "sex": pa.array(people.sex, pa.string()),
        "gender": pa.array(map_values(people.sex, codes()["gp_sex"]), pa.string()),
        "ethnic_category": pa.array(people.ethnic_category, pa.string()),
        "postcode": pa.array(people.postcode, pa.string()),
        "lsoa_code": pa.array(people.lsoa_code, pa.string()),
        "imd_decile": pa.array(people.imd_decile, pa.int64()),
        "gp_practice_ods": pa.array(people.practice_ods, pa.string()),
        "pcn_code": pa.array(people.pcn_code, pa.string()),
        "type1_objection": pa.array(people.type1_objection, pa.bool_()),
        "smi_register": pa.array(on_register, pa.bool_()),
    })


def records_truth(person_records: pa.Table, people: Population) -> pa.Table:
    return pa.table({
        "source": person_records["source"], "provider_ods": person_records["provider_ods"],
        "table": person_records["table"], "local_id": person_records["local_id"],
        "person_id": pa.array(people.person_id[_np(person_records["person"])], pa.string()),
    })


def _status(rejected: pa.ChunkedArray, discharged: pa.ChunkedArray) -> pa.Array:
    return pc.if_else(pc.is_valid(rejected), "rejected", pc.if_else(pc.is_valid(discharged), "closed", "open"))


def referrals_truth(referrals: pa.Table, gp_referrals: pa.Table, contacts: pa.Table, people: Population,
                    lookup: dict) -> pa.Table:
    """One row per referral a service holds, plus one per GP referral nobody received; with the
    journey transition and whether the service ever saw the person."""
    gp_ids = format_ids(table_prefix("gp", "referral"), gp_referrals["gp_ref_no"])
    link = pc.index_in(referrals["gp_ref_no"], value_set=gp_referrals["gp_ref_no"].combine_chunks())

    def via_gp(column: pa.ChunkedArray) -> pa.ChunkedArray:
        return pc.take(column, link)  # null where the referral did not come from a GP referral

    attended = contacts.filter(pc.is_in(contacts["attend_code"], pa.array(_ATTENDED_CODES)))
    seen = pc.is_in(referrals["ref_no"], attended["ref_no"].unique())
    received = pa.table({
        "source": referrals["source"], "provider_ods": referrals["provider_ods"], "table": referrals["table"],
        "local_id": record_ids(referrals, "ref_no"),
        "person_id": pa.array(people.person_id[_np(referrals["person"])], pa.string()),
        "service_code": referrals["service_code"],
        "setting": pa.array(_settings(lookup, _np(referrals["provider_ods"]), _np(referrals["service_code"])),
                            pa.string()),
        "gp_provider_ods": via_gp(gp_referrals["provider_ods"]),
        "gp_referral_id": via_gp(gp_ids),
        "referred_date": via_gp(gp_referrals["date"]),
        "received_date": referrals["received_date"],
        "status": _status(referrals["rejected_date"], referrals["discharge_date"]),
        "rejected_date": referrals["rejected_date"], "discharge_date": referrals["discharge_date"],
        "seen": seen,
    })
    lost = pc.invert(pc.is_in(gp_referrals["gp_ref_no"], referrals["gp_ref_no"]))
    g = gp_referrals.filter(lost)
    g_ids = format_ids(table_prefix("gp", "referral"), g["gp_ref_no"])
    n = len(g)
    not_received = pa.table({
        "source": pa.array(["gp"] * n, pa.string()), "provider_ods": g["provider_ods"],
        "table": pa.array(["referral"] * n, pa.string()), "local_id": g_ids,
        "person_id": pa.array(people.person_id[_np(g["person"])], pa.string()),
        "service_code": g["target_service"],
        "setting": pa.array(_settings(lookup, _np(g["target_ods"]), _np(g["target_service"])), pa.string()),
        "gp_provider_ods": g["provider_ods"], "gp_referral_id": g_ids, "referred_date": g["date"],
        "received_date": pa.nulls(n, pa.date32()), "status": pa.array(["not_received"] * n, pa.string()),
        "rejected_date": pa.nulls(n, pa.date32()), "discharge_date": pa.nulls(n, pa.date32()),
        "seen": pa.array([False] * n, pa.bool_()),
    })
    received = (received.append_column("target_ods", referrals["provider_ods"])
                .append_column("source_code", referrals["source_code"]).append_column("reason", referrals["reason"]))
    not_received = (not_received.append_column("target_ods", g["target_ods"])
                    .append_column("source_code", pa.nulls(n, pa.string()))
                    .append_column("reason", pa.nulls(n, pa.string())))
    return _with_transitions(pa.concat_tables([received, not_received.cast(received.schema)]))


def _with_transitions(table: pa.Table) -> pa.Table:
    """Add `transition` before `seen` (the column order of TRUTH.md)."""
    day = pc.coalesce(table["received_date"], table["referred_date"])
    columns = ("person_id", "local_id", "target_ods", "service_code", "setting", "status")
    person, local_id, target, service, setting, status = (_np(table[c]) for c in columns)
    rejected = pc.cast(pc.cast(table["rejected_date"], pa.int32()), pa.float64()).fill_null(np.nan)
    label = transitions(person, _np(pc.cast(day, pa.int32())), local_id, target, service, setting, status,
                        _np(rejected))
    return table.add_column(table.schema.get_field_index("seen"), "transition", pa.array(label, pa.string()))


def contacts_truth(contacts: pa.Table, people: Population) -> pa.Table:
    source, code, mech = _np(contacts["source"]), _np(contacts["attend_code"]), _np(contacts["mech_code"])
    mh = np.isin(source, ["mhsds", "talking_therapies"])
    c = codes()
    attendance = np.where(mh, map_values(code, {k: v["outcome"] for k, v in c["attend_status"].items()}),
                          np.where(source == "gp", map_values(code, c["gp_appointment_status"]),
                                   map_values(code, {"true": "attended", "false": "did_not_attend"})))
    mechanism = np.where(mh, map_values(mech, {k: v["mechanism"] for k, v in c["cons_mechanism"].items()}),
                         map_values(mech, c["contact_mode"]))
    treatment = map_values(_np(contacts["app_type"]), {k: v["treatment"] for k, v in c["tt_app_type"].items()})
    return pa.table({
        "source": contacts["source"], "provider_ods": contacts["provider_ods"], "table": contacts["table"],
        "local_id": record_ids(contacts, NUMBER_FIELD["contacts"]),
        "referral_local_id": referral_ids(contacts["source"], contacts["ref_no"]),
        "person_id": pa.array(people.person_id[_np(contacts["person"])], pa.string()),
        "contact_date": contacts["date"], "service_code": contacts["service_code"],
        "mechanism": pa.array(mechanism, pa.string()), "attendance": pa.array(attendance, pa.string()),
        "is_treatment": pa.array(np.where(source == "talking_therapies", treatment, None), pa.bool_()),
        "staff_role": contacts["staff_role"],
    })


def care_plans_truth(care_plans: pa.Table, coded_events: pa.Table, people: Population) -> pa.Table:
    plans = pa.table({
        "source": care_plans["source"], "provider_ods": care_plans["provider_ods"], "table": care_plans["table"],
        "local_id": record_ids(care_plans, NUMBER_FIELD["care_plans"]),
        "person_id": pa.array(people.person_id[_np(care_plans["person"])], pa.string()),
        "plan_type": care_plans["plan_code"], "is_crisis_plan": care_plans["crisis"],
        "created_date": care_plans["created_date"],
        "goal_count": pc.cast(pc.is_valid(care_plans["goal_text"]), pa.int64()),
        "referral_local_id": referral_ids(care_plans["source"], care_plans["ref_no"]),
    })
    kinds = codes()["gp_snomed"]
    plan_codes = [code for code, body in kinds.items() if body["kind"] == "care_plan"]
    gp = coded_events.filter(pc.is_in(coded_events["code"], pa.array(plan_codes)))
    crisis = [code for code in plan_codes if kinds[code].get("crisis")]
    n = len(gp)
    from_gp = pa.table({
        "source": pa.array(["gp"] * n, pa.string()), "provider_ods": gp["provider_ods"],
        "table": pa.array(["coded_event"] * n, pa.string()),
        "local_id": format_ids(table_prefix("gp", "coded_event"), gp["event_no"]),
        "person_id": pa.array(people.person_id[_np(gp["person"])], pa.string()),
        "plan_type": gp["code"], "is_crisis_plan": pc.is_in(gp["code"], pa.array(crisis, pa.string())),
        "created_date": gp["date"], "goal_count": pa.array([0] * n, pa.int64()),
        "referral_local_id": pa.nulls(n, pa.string()),
    })
    return pa.concat_tables([plans, from_gp.cast(plans.schema)])


def scores_truth(scores: pa.Table, coded_events: pa.Table, people: Population) -> pa.Table:
    item = scores["item"]
    service = pa.table({
        "source": scores["source"], "provider_ods": scores["provider_ods"], "table": scores["table"],
        "local_id": record_ids(scores, NUMBER_FIELD["scores"]),
        "person_id": pa.array(people.person_id[_np(scores["person"])], pa.string()),
        "referral_local_id": referral_ids(scores["source"], scores["ref_no"]),
        "measure": scores["measure"], "item": pc.if_else(pc.greater(item, 0), item, pa.scalar(None, pa.int64())),
        "value": scores["value"], "date": scores["date"],
    })
    gp = coded_events.filter(pc.is_valid(coded_events["measure"]))
    n = len(gp)
    from_gp = pa.table({
        "source": pa.array(["gp"] * n, pa.string()), "provider_ods": gp["provider_ods"],
        "table": pa.array(["coded_event"] * n, pa.string()),
        "local_id": format_ids(table_prefix("gp", "coded_event"), gp["event_no"]),
        "person_id": pa.array(people.person_id[_np(gp["person"])], pa.string()),
        "referral_local_id": pa.nulls(n, pa.string()), "measure": gp["measure"], "item": pa.nulls(n, pa.int64()),
        "value": gp["value"], "date": gp["date"],
    })
    return pa.concat_tables([service, from_gp.cast(service.schema)])


