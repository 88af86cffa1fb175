"""Person-level records of every source in one shape, ready for linkage."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from carebridge.core.reference import codes

__all__ = ["PERSON_RECORD_SCHEMA", "person_sources", "person_records"]

PERSON_RECORD_SCHEMA = pa.schema([
    ("source", pa.string()), ("provider_ods", pa.string()), ("local_patient_id", pa.string()),
    ("priority", pa.int64()), ("reporting_month", pa.string()),
    ("nhs_number", pa.string()), ("nhs_number_check", pa.string()),
    ("given_name", pa.string()), ("family_name", pa.string()), ("birth_date", pa.date32()),
    ("gender", pa.string()), ("ethnic_category", pa.string()), ("postcode", pa.string()),
    ("lsoa_code", pa.string()), ("gp_practice_ods", pa.string()),
    ("registration_start", pa.date32()), ("registration_end", pa.date32()),
    ("type1_objection", pa.bool_()), ("death_date", pa.date32()),
])


@cache
def person_sources() -> dict[str, dict[str, Any]]:
    with open(Path(__file__).with_name("person_sources.yaml"), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _column(table: pa.Table, name: str | None, type_: pa.DataType) -> pa.Array:
    if name is None or name not in table.column_names:
        return pa.nulls(table.num_rows, type_)
    return table[name].combine_chunks().cast(type_)


def _gender(raw: pa.Array, code_list: str) -> pa.Array:
    mapping = codes()[code_list]
    keys = pa.array(list(mapping), pa.string())
    values = pa.array(list(mapping.values()), pa.string())
    index = pc.index_in(pc.utf8_upper(raw), value_set=keys)
    return pc.if_else(pc.is_null(raw), pa.scalar("unknown"), pc.take(values, index).fill_null("unknown"))


def _one_source(table_name: str, spec: dict[str, Any], table: pa.Table) -> pa.Table:
    columns = spec["columns"]
    arrays = {
        "source": pa.array([spec["source"]] * table.num_rows, pa.string()),
        "provider_ods": _column(table, "provider_ods", pa.string()),
        "priority": pa.array([spec["priority"]] * table.num_rows, pa.int64()),
        "reporting_month": _column(table, "reporting_month", pa.string()),
        "nhs_number_check": _column(table, "nhs_number_check", pa.string()),
    }
    for field in PERSON_RECORD_SCHEMA:
        if field.name in arrays or field.name in ("gender", "gp_practice_ods"):
            continue
        arrays[field.name] = _column(table, columns.get(field.name), field.type)
    arrays["gender"] = _gender(_column(table, columns.get("sex"), pa.string()), spec["sex_codes"])
    # A GP record's registered practice is the practice itself.
    arrays["gp_practice_ods"] = arrays["provider_ods"] if spec["source"] == "gp" else pa.nulls(table.num_rows, pa.string())
    return pa.table({f.name: arrays[f.name] for f in PERSON_RECORD_SCHEMA}, schema=PERSON_RECORD_SCHEMA)


def person_records(staged: dict[str, pa.Table]) -> pa.Table:
    """Every person-level record of every source, in PERSON_RECORD_SCHEMA."""
    parts = [_one_source(name, spec, staged[name]) for name, spec in person_sources().items() if name in staged]
    if not parts:
        return PERSON_RECORD_SCHEMA.empty_table()
    return pa.concat_tables(parts)
