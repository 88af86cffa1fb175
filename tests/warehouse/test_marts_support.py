"""Shared fixtures for the marts, publish and questions tests (no tests here).

Each test gets a fresh warehouse (a DuckDB file, and PostgreSQL: skipped with the reason when
CAREBRIDGE_TEST_PG_URL is not set; tests/conftest.py) and writes tiny hand-made `fhir.v_*`
tables with the columns of docs/internals.md.
Rows are given as dicts; missing columns are null.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa
import sqlalchemy as sa

from carebridge.core.reference import load_reference
from warehouse.build import build_marts, build_published, load_reference_tables, person_keys
from warehouse.db import ensure_schemas, make_engine, query, write_table

TEST_KEY = b"test-pseudonymisation-key"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"

_TEXT = pa.string()
VIEW_COLUMNS: dict[str, dict[str, pa.DataType]] = {
    "v_patient": dict.fromkeys(["patient_id", "nhs_number", "birth_date", "gender", "ethnic_category",
                                "lsoa_code", "gp_practice_ods"], _TEXT),
    "v_organization": dict.fromkeys(["organization_id", "ods_code", "name", "kind", "parent_ods"], _TEXT),
    "v_healthcare_service": dict.fromkeys(["service_id", "provider_ods", "service_code", "name", "setting",
                                           "level"], _TEXT),
    "v_service_request": dict.fromkeys([
        "service_request_id", "patient_id", "record_source", "provider_ods", "local_id", "ubrn", "status",
        "setting", "code", "reason_code", "priority", "authored_on", "requester_ods", "performer_service_id",
        "based_on_id", "referral_source_code", "rejected_date"], _TEXT),
    "v_episode_of_care": dict.fromkeys(["episode_id", "patient_id", "service_request_id", "status", "start_date",
                                        "end_date", "managing_ods", "team_type"], _TEXT),
    "v_encounter": {**dict.fromkeys([
        "encounter_id", "patient_id", "service_request_id", "episode_id", "record_source", "provider_ods",
        "service_id", "status", "attendance_code", "attendance", "mechanism", "contact_date"], _TEXT),
        "length_minutes": pa.int64(), "staff_role": _TEXT, "appointment_type": _TEXT},
    "v_care_plan": {**dict.fromkeys([
        "care_plan_id", "patient_id", "record_source", "provider_ods", "service_request_id", "status",
        "plan_type"], _TEXT), "is_crisis_plan": pa.bool_(), "created_date": _TEXT, "last_updated_date": _TEXT,
        "goal_count": pa.int64()},
    "v_observation": {**dict.fromkeys([
        "observation_id", "patient_id", "service_request_id", "record_source", "provider_ods", "code_system",
        "code", "item"], _TEXT), "value": pa.float64(), "effective_date": _TEXT},
    "v_condition": dict.fromkeys(["condition_id", "patient_id", "provider_ods", "code", "recorded_date"], _TEXT),
}

# Services and organisations most tests use (ids are readable, not the real UUIDs).
ORGANIZATIONS = [
    {"organization_id": "org-icb", "ods_code": "QZZ", "name": "ICB", "kind": "icb"},
    {"organization_id": "org-pcn", "ods_code": "U90001", "name": "Riverside PCN", "kind": "pcn", "parent_ods": "QZZ"},
    {"organization_id": "org-gp", "ods_code": "Z90001", "name": "Riverside MC", "kind": "gp_practice",
     "parent_ods": "U90001"},
    {"organization_id": "org-trust", "ods_code": "RZZ", "name": "MH Trust", "kind": "mh_trust", "parent_ods": "QZZ"},
    {"organization_id": "org-tt", "ods_code": "RZY", "name": "Talking Therapies", "kind": "talking_therapies"},
    {"organization_id": "org-vcse", "ods_code": "8ZZ01", "name": "Link Workers CIC", "kind": "vcse"},
]
SERVICES = {
    "GP": ("Z90001", "GP", "General practice", "primary", "neighbourhood"),
    "MHP": ("Z90001", "MHP", "Practice mental health practitioner", "primary", "neighbourhood"),
    "CMHT": ("RZZ", "A06", "Community mental health team", "secondary", "place"),
    "EIP": ("RZZ", "A14", "Early intervention in psychosis", "secondary", "place"),
    "CRISIS": ("RZZ", "A02", "Crisis resolution", "secondary", "place"),
    "TT": ("RZY", "TT", "NHS Talking Therapies", "talking_therapies", "place"),
    "SP": ("8ZZ01", "SP", "Social prescribing", "vcse", "neighbourhood"),
}
SOURCE_OF = {"GP": "gp", "MHP": "gp", "CMHT": "mhsds", "EIP": "mhsds", "CRISIS": "mhsds",
             "TT": "talking_therapies", "SP": "vcse"}


def service_rows() -> list[dict]:
    return [dict(zip(["provider_ods", "service_code", "name", "setting", "level"], v), service_id=k)
            for k, v in SERVICES.items()]


# --- row builders ------------------------------------------------------------------------------

def patient(pid: str, birth: str = "1990-06-15", gender: str = "female", eth: str | None = "A",
            lsoa: str | None = "E01900001", gp: str = "Z90001") -> dict:
    return {"patient_id": pid, "nhs_number": "9434765919", "birth_date": birth, "gender": gender,
            "ethnic_category": eth, "lsoa_code": lsoa, "gp_practice_ods": gp}


def gp_referral(sid: str, pid: str, date: str, to: str, **extra) -> dict:
    """A GP's outbound referral to service `to` (a key of SERVICES)."""
    return {"service_request_id": sid, "patient_id": pid, "record_source": "gp|Z90001", "provider_ods": "Z90001",
            "status": "active", "setting": SERVICES[to][3], "authored_on": date, "requester_ods": "Z90001",
            "performer_service_id": to, "priority": "routine", **extra}


def received(sid: str, pid: str, date: str, at: str, based_on: str | None = None, source: str | None = None,
             **extra) -> dict:
    """The receiving service's own record of a referral to `at`."""
    provider = SERVICES[at][0]
    return {"service_request_id": sid, "patient_id": pid, "record_source": f"{SOURCE_OF[at]}|{provider}",
            "provider_ods": provider, "status": "active", "setting": SERVICES[at][3], "authored_on": date,
            "performer_service_id": at, "based_on_id": based_on, "referral_source_code": source,
            "priority": "routine", **extra}


def contact(eid: str, pid: str, sid: str | None, date: str, at: str, attendance: str = "attended",
            mechanism: str = "face_to_face", app_type: str | None = None, **extra) -> dict:
    provider = SERVICES[at][0]
    return {"encounter_id": eid, "patient_id": pid, "service_request_id": sid, "record_source": SOURCE_OF[at],
            "provider_ods": provider, "service_id": at, "status": "finished" if attendance == "attended" else
            "cancelled", "attendance": attendance, "mechanism": mechanism, "contact_date": date,
            "length_minutes": 30, "staff_role": "MHP", "appointment_type": app_type, **extra}


def score(oid: str, pid: str, sid: str, date: str, code: str, value: float, system: str = SNOMED,
          item: str | None = None) -> dict:
    """A v_observation row; a code given as SNOMED CT that fails its check digit is in the local
    system, as the FHIR mapping writes it (fhir_mapping.elements.coding)."""
    from carebridge.core.snomed import is_sctid
    from fhir_mapping.terminology import system as system_url

    if system == SNOMED and not is_sctid(code):
        system = system_url("local_clinical_code")
    return {"observation_id": oid, "patient_id": pid, "service_request_id": sid, "code_system": system,
            "code": code, "item": item, "value": value, "effective_date": date}


def episode(eid: str, pid: str, sid: str, start: str, end: str | None = None) -> dict:
    return {"episode_id": eid, "patient_id": pid, "service_request_id": sid, "status": "finished" if end else
            "active", "start_date": start, "end_date": end}


# --- warehouse set-up ----------------------------------------------------------------------------

def view_table(name: str, rows: list[dict]) -> pa.Table:
    columns = VIEW_COLUMNS[name]
    unknown = {k for r in rows for k in r} - set(columns)
    assert not unknown, f"{name}: unknown columns {unknown}"
    return pa.table({c: pa.array([r.get(c) for r in rows], t) for c, t in columns.items()})


def write_views(engine: sa.Engine, excluded: tuple[str, ...] = (), **views: list[dict]) -> None:
    """Write every v_* view (missing ones empty, organisations and services defaulted), the person
    key map of all patients and the exclusions."""
    views.setdefault("v_organization", ORGANIZATIONS)
    views.setdefault("v_healthcare_service", service_rows())
    for name in VIEW_COLUMNS:
        write_table(engine, "fhir", name, view_table(name, views.get(name, [])))
    patients = [r["patient_id"] for r in views.get("v_patient", [])]
    write_table(engine, "work", "person_key_map", person_keys(patients, TEST_KEY))
    write_table(engine, "work", "analytics_exclusions", pa.table({
        "person_id": pa.array(list(excluded), pa.string()),
        "reason": pa.array(["national_data_opt_out"] * len(excluded), pa.string())}))


def build(engine: sa.Engine, excluded: tuple[str, ...] = (), publish: bool = False, **views: list[dict]) -> dict:
    write_views(engine, excluded, **views)
    load_reference_tables(engine, load_reference())
    counts = build_marts(engine)
    if publish:
        counts.update(build_published(engine))
    return counts


def key_of(person_id: str) -> str:
    return person_keys([person_id], TEST_KEY).column("person_key")[0].as_py()


def rows(engine: sa.Engine, sql: str) -> list[dict]:
    return query(engine, sql).to_pylist()


def table(engine: sa.Engine, schema: str, name: str, order_by: str | None = None) -> list[dict]:
    return rows(engine, f"SELECT * FROM {schema}.{name}" + (f" ORDER BY {order_by}" if order_by else ""))


# --- engines: tests/conftest.py gives each test an empty warehouse on DuckDB and on PostgreSQL ---

BACKENDS = ("duckdb", "postgresql")  # the params of conftest's warehouse_url, for module-scoped warehouses


def merge_views(parts: Iterable[dict[str, list[dict]]]) -> dict[str, list[dict]]:
    """Several hand-made worlds ({view name: rows}) as one."""
    merged: dict[str, list[dict]] = {}
    for part in parts:
        for view, view_rows in part.items():
            merged.setdefault(view, []).extend(view_rows)
    return merged


def built_warehouse(url: str, views: dict[str, list[dict]], publish: bool = False) -> Iterator[sa.Engine]:
    """An engine on a warehouse built from `views` (for module-scoped fixtures over BACKENDS)."""
    engine = make_engine(url)
    ensure_schemas(engine)
    build(engine, publish=publish, **views)
    yield engine
    engine.dispose()


