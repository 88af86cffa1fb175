"""The mapping's working state: staged tables conformed to the columns it reads, in one DuckDB
connection, plus the person index, reference data and what the mappers report (unmapped rows,
warnings, the organisations and services they reference).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from carebridge.core.ids import record_id
from carebridge.core.reference import codes
from fhir_mapping.terminology import code_maps, inputs

__all__ = ["PersonIndexLike", "ReferenceLike", "MappingContext", "UNMAPPED_SCHEMA", "sql_name", "build_context",
           "with_record_ids"]

_TYPES = {"string": pa.string(), "date": pa.date32(), "timestamp": pa.timestamp("s"), "int": pa.int64(),
          "float": pa.float64(), "bool": pa.bool_()}

UNMAPPED_SCHEMA = pa.schema([
    ("source", pa.string()), ("table_name", pa.string()), ("provider_ods", pa.string()),
    ("local_id", pa.string()), ("source_file", pa.string()), ("source_line", pa.int64()),
    ("reason", pa.string()),
])


class PersonIndexLike(Protocol):
    """What the mapping needs of linkage's PersonIndex (docs/internals.md, Linkage)."""

    links: pa.Table
    persons: pa.Table


class ReferenceLike(Protocol):
    organisations: pa.Table
    services: pa.Table


def sql_name(key: str) -> str:
    """`"mhsds.MHS101Referral"` -> `mhsds_MHS101Referral`, the table's name in the mapping's DuckDB."""
    return key.replace(".", "_")


def _schema(columns: dict[str, str]) -> pa.Schema:
    lineage = inputs()["lineage"]
    return pa.schema([(name, _TYPES[kind]) for name, kind in {**columns, **lineage}.items()])


def conform(table: pa.Table | None, schema: pa.Schema) -> pa.Table:
    """The table with exactly `schema`'s columns: absent ones all-null, others cast to the declared type."""
    if table is None:
        return schema.empty_table()
    arrays = [table[f.name].cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
              for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _pairs(mapping: dict[str, str], key: str, value: str) -> pa.Table:
    return pa.table({key: pa.array(list(mapping), pa.string()), value: pa.array(list(mapping.values()), pa.string())})


def _code_list_tables() -> dict[str, pa.Table]:
    """Code lists the SQL joins on, as small Arrow tables."""
    snomed = codes()["gp_snomed"]
    return {
        "code_gp_snomed": pa.table({
            "code": pa.array(list(snomed), pa.string()),
            "kind": pa.array([v.get("kind") for v in snomed.values()], pa.string()),
            "setting": pa.array([v.get("setting") for v in snomed.values()], pa.string())}),
        "map_source_setting": _pairs(code_maps()["source_setting"], "source", "setting"),
        "map_default_service": _pairs(code_maps()["default_service_code"], "source", "service_code"),
    }


@dataclass
class MappingContext:
    con: duckdb.DuckDBPyConnection
    reference: ReferenceLike
    warnings: list[str] = field(default_factory=list)
    unmapped: list[pa.Table] = field(default_factory=list)
    organisations_used: set[str] = field(default_factory=set)
    # (provider ODS, service code) -> the setting the referencing record implies (used when
    # services.csv does not know the service).
    services_used: dict[tuple[str, str], str | None] = field(default_factory=dict)

    def sql(self, query: str, params: dict[str, Any] | None = None) -> pa.Table:
        return self.con.sql(query, params=params).to_arrow_table()

    def register(self, name: str, table: pa.Table) -> None:
        self.con.register(name, table)

    def keep_mapped(self, table: pa.Table, id_column: str, source: str | None = None,
                    table_name: str | None = None) -> pa.Table:
        """Rows whose `reason` is null; the others go to `unmapped` with their reason and lineage.

        `source`/`table_name` default to the table's own columns of those names.
        """
        failed = pc.is_valid(table["reason"])
        rejected = table.filter(failed)
        if rejected.num_rows:
            n = rejected.num_rows
            self.unmapped.append(pa.table({
                "source": rejected["source"] if source is None else pa.array([source] * n, pa.string()),
                "table_name": rejected["table_name"] if table_name is None else pa.array([table_name] * n, pa.string()),
                "provider_ods": rejected["provider_ods"], "local_id": rejected[id_column].cast(pa.string()),
                "source_file": rejected["source_file"], "source_line": rejected["source_line"],
                "reason": rejected["reason"]}, schema=UNMAPPED_SCHEMA))
        return table.filter(pc.invert(failed))

    def use_organisations(self, ods_codes: Any) -> None:
        self.organisations_used.update(c for c in ods_codes if c)

    def use_services(self, triples: Any) -> None:
        """Record (ODS, service code, implied setting) of services that mapped records reference."""
        for ods, code, setting in triples:
            if ods and code and self.services_used.get((ods, code)) is None:
                self.services_used[(ods, code)] = setting


_SUBJECTS_SQL = """
CREATE VIEW subjects AS
SELECT l.source, l.provider_ods, l.local_patient_id, p.person_id,
       CASE WHEN p.nhs_number_verified THEN p.nhs_number END AS nhs_number
FROM (SELECT source, provider_ods, local_patient_id, min(person_id) AS person_id
      FROM links GROUP BY ALL) l
JOIN persons p USING (person_id)
"""


_DEDUPE_SQL = """
SELECT *, CASE WHEN "{id}" IS NULL THEN 'missing_local_id' WHEN rn > 1 THEN 'duplicate_record' END AS reason
FROM (SELECT *, row_number() OVER (PARTITION BY provider_ods, "{id}"
                                   ORDER BY reporting_month DESC, submission_id DESC, source_line DESC) AS rn
      FROM raw_input)
"""


def _one_record_per_id(ctx: MappingContext, key: str, table: pa.Table) -> pa.Table:
    """Keep one row per (provider, local id): the latest; report repeats and rows without an id."""
    id_column = inputs()["record_ids"].get(key)
    if id_column is None or table.num_rows == 0:
        return table
    ctx.register("raw_input", table)
    ranked = ctx.sql(_DEDUPE_SQL.format(id=id_column))
    ctx.con.unregister("raw_input")
    source, table_name = key.split(".", 1)
    return ctx.keep_mapped(ranked, id_column, source, table_name).select(table.column_names)


def _empty(*columns: str) -> pa.Table:
    return pa.table({c: pa.array([], pa.string()) for c in columns})


@dataclass(frozen=True)
class _NoReference:
    organisations: pa.Table = field(default_factory=lambda: _empty("ods_code", "name", "kind", "parent_ods"))
    services: pa.Table = field(default_factory=lambda: _empty("provider_ods", "service_code", "name", "setting", "level"))


def build_context(staged: dict[str, pa.Table], person_index: PersonIndexLike,
                  reference: ReferenceLike | None = None) -> MappingContext:
    """One DuckDB connection holding every input the mappers join (reference data optional)."""
    con = duckdb.connect()
    ctx = MappingContext(con=con, reference=reference or _NoReference())
    for key, columns in inputs()["tables"].items():
        table = conform(staged.get(key), _schema(columns))
        ctx.register(sql_name(key), _one_record_per_id(ctx, key, table))
    ctx.register("links", person_index.links)
    ctx.register("persons", person_index.persons)
    ctx.register("ref_organisations", ctx.reference.organisations)
    ctx.register("ref_services", ctx.reference.services)
    for name, table in _code_list_tables().items():
        ctx.register(name, table)
    con.execute(_SUBJECTS_SQL)
    return ctx


def with_record_ids(table: pa.Table) -> pa.Table:
    """Append `id`, the record_id of each row's (source, provider_ods, table_name, local_id)."""
    keys = zip(*(table[c].to_pylist() for c in ("source", "provider_ods", "table_name", "local_id")))
    return table.append_column("id", pa.array([record_id(*key) for key in keys], pa.string()))
