"""Builds the warehouse's derived layers: reference tables, the `analytics` marts and `published`.

The marts are plain SELECT statements in `warehouse/marts/<table>.sql`, run in the order their
SQL's table references give (`warehouse.marts.graph`); each replaces its table (DROP + CREATE TABLE AS, portable to DuckDB and PostgreSQL).
Tables named `m_*` are working tables: they still hold person ids, so they live in `work`
and analysts never see them. The rest land in `analytics` (warehouse.catalog.analytics).

Keys. `person_key` is HMAC-SHA256 of the person id under a key held outside the warehouse
(`person_keys`). Record keys (referral_key, contact_key, care_plan_key, outcome_key) are
md5(person_key | FHIR id): stable across runs, but not the ids trusts receive in FHIR, so
analytics rows cannot be joined to direct-care records without the pseudonymisation key.
service_key is the HealthcareService id itself (organisational reference data, not personal).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any

import pyarrow as pa

from carebridge.core.reference import Reference, codes
from warehouse.catalog import analytics as catalog
from warehouse.engines import Warehouse
from warehouse.db import ensure_schemas
from warehouse.marts import MARTS_DIR, read_sql, settings
from warehouse.marts.graph import build_order, mart_inputs
from warehouse.publish import publish_all
from carebridge.core.snomed import is_sctid

__all__ = ["MARTS_DIR", "MART_ORDER", "ANALYTICS_TABLES", "PUBLISHED_INPUTS", "REFERENCE_SCHEMAS", "person_keys", "reference_tables",
           "load_reference_tables", "build_marts", "build_published"]

# Dependency order, from the SQL. `m_*` -> work (working tables), the rest -> analytics.
MART_ORDER: tuple[str, ...] = build_order()
# The analytics contract (outputs.md part B): every analytics mart but the inputs of published tables.
PUBLISHED_INPUTS: tuple[str, ...] = tuple(settings()["published_inputs"])
ANALYTICS_TABLES: tuple[str, ...] = tuple(n for n in MART_ORDER if catalog.mart_schema(n) == catalog.ANALYTICS
                                          and n not in PUBLISHED_INPUTS)


# --- pseudonymisation ------------------------------------------------------------------------

def person_keys(person_ids: Iterable[str], key: bytes) -> pa.Table:
    """person_id -> person_key (hex HMAC-SHA256 under `key`). The key itself is never stored or logged."""
    ids = sorted({p for p in person_ids if p is not None})
    keys = [hmac.new(key, p.encode("utf-8"), hashlib.sha256).hexdigest() for p in ids]
    return pa.table({"person_id": pa.array(ids, pa.string()), "person_key": pa.array(keys, pa.string())})


# --- reference tables from the code lists ---------------------------------------------------

_S, _I, _F, _B = pa.string(), pa.int64(), pa.float64(), pa.bool_()
REFERENCE_SCHEMAS: dict[str, pa.Schema] = {
    "measure": pa.schema([("measure", _S), ("name", _S), ("min_value", _F), ("max_value", _F), ("better", _S),
                          ("caseness_min", _F), ("caseness_max", _F), ("reliable_change", _F), ("converted", _B)]),
    "measure_code": pa.schema([("code_system", _S), ("code", _S), ("measure", _S), ("item", _I), ("in_score", _B)]),
    "score_conversion": pa.schema([("measure", _S), ("raw_score", _F), ("score", _F)]),
    "ethnic_category": pa.schema([("code", _S), ("name", _S), ("ethnic_group", _S)]),
    "setting_rank": pa.schema([("setting", _S), ("setting_rank", _I)]),
    "age_band": pa.schema([("min_age", _I), ("max_age", _I), ("age_band", _S)]),
    "team_type": pa.schema([("code", _S), ("name", _S), ("is_core_community", _B), ("is_crisis", _B)]),
    "tt_app_type": pa.schema([("code", _S), ("name", _S), ("is_treatment", _B)]),
    "gp_snomed": pa.schema([("code", _S), ("name", _S), ("kind", _S), ("setting", _S)]),
    "vcse_need_domain": pa.schema([("domain", _S)]),
    "source_of_referral": pa.schema([("record_source", _S), ("code", _S), ("name", _S), ("setting", _S)]),
    "wait_standard": pa.schema([("setting", _S), ("service_type_code", _S), ("wait_measure", _S),
                                ("standard_days", _I), ("target", _F)]),
    "age_reference": pa.schema([("fixed_date", _S)]),
    "access_measure": pa.schema([("measure", _S), ("unit", _S), ("definition", _S)]),
}
Rows = list[dict[str, Any]]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _measures(c: Mapping[str, Any], marts: Mapping[str, Any]) -> Rows:
    return [{"measure": name, "name": m["name"], "min_value": float(m["min"]), "max_value": float(m["max"]),
             "better": m["better"], "caseness_min": _float(m.get("caseness_min")),
             "caseness_max": _float(m.get("caseness_max")), "reliable_change": _float(m.get("reliable_change")),
             "converted": name in marts["score_conversions"]}
            for name, m in c["measures"].items()]


def _measure_codes(c: Mapping[str, Any], marts: Mapping[str, Any]) -> Rows:
    return [row for name, m in c["measures"].items() for row in _codes_of(name, m, marts["code_systems"])]


def _sct_system(code: str, systems: Mapping[str, str]) -> str:
    """SNOMED CT, or, for a code failing its check digit, the local system the FHIR mapping writes it in."""
    from fhir_mapping.terminology import system

    return systems["snomed"] if is_sctid(code) else system("local_clinical_code")


def _codes_of(name: str, m: Mapping[str, Any], systems: Mapping[str, str]) -> Rows:
    """Every code an Observation of the measure may carry. A null code_system matches any system
    (the measure key itself and local item names, as the VCSE wellbeing scores are coded).
    `item` numbers the items of a multi-item measure (DIALOG); in_score marks those in the score."""
    items = m.get("items", [])
    scored = m.get("items_in_score", len(items))
    codes_ = [(None, name, None), *([(None, m["local"], None)] if m.get("local") else []),
              *[(_sct_system(code, systems), code, None) for code in m.get("snomed") or []],
              *([(systems["loinc"], m["loinc"], None)] if m.get("loinc") else []),
              *[(_sct_system(code, systems), code, i) for i, code in enumerate(items, start=1)]]
    return [{"code_system": system, "code": code, "measure": name, "item": item,
             "in_score": item is None or item <= scored} for system, code, item in codes_]


def _score_conversions(c: Mapping[str, Any], marts: Mapping[str, Any]) -> Rows:
    """raw -> score lookups; the raw values run from the measure's minimum."""
    return [{"measure": name, "raw_score": float(raw), "score": float(score)}
            for name, list_name in marts["score_conversions"].items()
            for raw, score in enumerate(c[list_name], start=int(c["measures"][name]["min"]))]


def _source_of_referral(c: Mapping[str, Any], marts: Mapping[str, Any]) -> Rows:
    """(record_source, code) -> name and the setting a referral came from."""
    rows = []
    for record_source, list_name in marts["source_code_lists"].items():
        for code, entry in c[list_name].items():
            named = isinstance(entry, dict)
            rows.append({"record_source": record_source, "code": str(code), "name": entry["name"] if named else code,
                         "setting": entry["setting"] if named else entry})
    return rows


def _wait_standards(c: Mapping[str, Any], _marts: Mapping[str, Any]) -> Rows:
    """Each wait standard against the services it applies to: by setting (a setting_rank key), by
    the core community team types (`community`), or by one service type code."""
    rows = []
    for target, standards in c["wait_standards"].items():
        if target in c["setting_rank"]:
            matches = [(target, None)]
        elif target == "community":
            matches = [(None, code) for code in c["core_community_team_types"]]
        else:
            matches = [(None, target)]
        rows += [{"setting": setting, "service_type_code": code, "wait_measure": s["measure"],
                  "standard_days": int(s["days"]), "target": _float(s.get("target"))}
                 for setting, code in matches for s in standards]
    return rows


_ROWS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], Rows]] = {
    "measure": _measures,
    "measure_code": _measure_codes,
    "score_conversion": _score_conversions,
    "ethnic_category": lambda c, _: [{"code": str(k), "name": v["name"], "ethnic_group": v["group"]}
                                    for k, v in c["ethnic_category"].items()],
    "setting_rank": lambda c, _: [{"setting": k, "setting_rank": int(v)} for k, v in c["setting_rank"].items()],
    "age_band": lambda c, _: [{"min_age": lo, "max_age": hi, "age_band": band} for lo, hi, band in c["age_bands"]],
    "team_type": lambda c, _: [{"code": k, "name": v, "is_core_community": k in c["core_community_team_types"],
                                "is_crisis": k in c["crisis_team_types"]} for k, v in c["team_type"].items()],
    "tt_app_type": lambda c, _: [{"code": str(k), "name": v["name"], "is_treatment": bool(v["treatment"])}
                                for k, v in c["tt_app_type"].items()],
    "gp_snomed": lambda c, _: [{"code": str(k), "name": v["name"], "kind": v["kind"], "setting": v.get("setting")}
                              for k, v in c["gp_snomed"].items()],
    "vcse_need_domain": lambda c, _: [{"domain": d} for d in c["vcse_need_domains"]],
    "source_of_referral": _source_of_referral,
    "wait_standard": _wait_standards,
    "age_reference": lambda _, m: [{"fixed_date": _age_reference_date(m)}],
    "access_measure": lambda _, m: [{"measure": k, "unit": v["unit"], "definition": v["definition"]}
                                    for k, v in m["access_measures"].items()],
}


def _age_reference_date(marts: Mapping[str, Any]) -> str | None:
    """marts.yaml `age_reference_date` as an ISO date, or None for `latest_period_end` (person.sql
    then takes the last day of the latest month with activity)."""
    value = marts.get("age_reference_date", "latest_period_end")
    if value == "latest_period_end":
        return None
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ValueError(f"marts.yaml age_reference_date: {value!r} is neither latest_period_end nor a date "
                         "(YYYY-MM-DD)") from None


def reference_tables(reference: Reference, code_lists: Mapping[str, Any] | None = None) -> dict[str, pa.Table]:
    """The `reference.*` tables the marts join to: code lists (codes.yaml, marts.yaml) and the
    deployment's reference data (LSOA -> IMD, organisations, services)."""
    c = code_lists if code_lists is not None else codes()
    tables = {name: pa.Table.from_pylist(build(c, settings()), schema=REFERENCE_SCHEMAS[name])
              for name, build in _ROWS.items()}
    tables.update(lsoa_imd=reference.lsoa_imd, organisation=reference.organisations, service=reference.services)
    return tables


def load_reference_tables(engine: Warehouse, reference: Reference) -> dict[str, int]:
    """Write every reference table to the `reference` schema; returns row counts."""
    ensure_schemas(engine)
    tables = reference_tables(reference)
    catalog.save_reference(engine, tables)
    return {name: table.num_rows for name, table in tables.items()}


# --- marts ----------------------------------------------------------------------------------

def build_marts(engine: Warehouse) -> dict[str, int]:
    """Rebuild every mart in dependency order; returns row counts of the `analytics` tables."""
    ensure_schemas(engine)
    skipped: set[tuple[str, str]] = set()
    optional = {tuple(t.split(".", 1)) for t in settings()["optional_inputs"]}
    for name in MART_ORDER:
        reads = mart_inputs()[name]
        if reads & skipped or any(not catalog.exists(engine, *t) for t in reads & optional):
            catalog.drop_mart(engine, name)
            skipped.add((catalog.mart_schema(name), name))
            continue
        catalog.replace_mart(engine, name, read_sql(name))
    return {name: catalog.row_count(engine, catalog.ANALYTICS, name) for name in ANALYTICS_TABLES}


def build_published(engine: Warehouse, threshold: int = 5, rounding: int = 5) -> dict[str, int]:
    """Aggregate the marts into `published.*` with disclosure control; returns row counts."""
    ensure_schemas(engine)
    tables = publish_all(engine, threshold=threshold, rounding=rounding)
    return {name: table.num_rows for name, table in tables.items()}
