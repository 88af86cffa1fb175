"""Spark SQL for the view compiler: FHIR resources loaded as `<schema>.fhir_<Type>(id, resource)`
(the NDJSON line as text, parsed into a VARIANT by the compiled query), views compiled with the
`spark` dialect and run as one Spark SQL query each."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from warehouse.viewdef.errors import SQL_ERROR_PREFIX, NotCompilable, ViewDefinitionError
from warehouse.viewdef.loading import valid_name
from warehouse.viewdef.model import output_schema, parse_view

__all__ = ["load_ndjson_spark", "load_resources_spark", "run_compiled_spark"]


def load_ndjson_spark(engine: Any, files: Mapping[str, Path | None], schema: str) -> dict[str, int]:
    """(Re)create `<schema>.fhir_<Type>(id, resource)` from NDJSON files (None: an empty table).
    Each line is checked to be JSON while loading (a malformed line fails the load)."""
    session = engine.session
    counts: dict[str, int] = {}
    for resource_type, path in files.items():
        name = f"fhir_{valid_name(resource_type)}"
        if path is None:
            frame = session.createDataFrame([], "id string, resource string")
        else:
            lines = session.read.text(str(path)).where("trim(value) <> ''")
            frame = lines.selectExpr("variant_get(parse_json(value), '$.id', 'string') AS id", "value AS resource")
        engine.drop(schema, f"ndjson_{resource_type}")
        engine._save(frame, schema, name)
        counts[resource_type] = int(session.table(f"{schema}.{name}").count())
    return counts


def load_resources_spark(engine: Any, resources: Mapping[str, list[dict]], schema: str) -> dict[str, int]:
    """Python dicts (the conformance suite's resources) as `<schema>.fhir_<Type>` tables."""
    from warehouse.viewdef.loading import resource_batches

    counts = {}
    for resource_type, items in resources.items():
        batches = list(resource_batches(items))
        table = pa.concat_tables(batches) if batches else pa.table({"id": pa.array([], pa.string()),
                                                                     "resource": pa.array([], pa.string())})
        engine.load_arrow(f"{schema}.fhir_{valid_name(resource_type)}", table, replace=True)
        counts[resource_type] = table.num_rows
    return counts


def run_compiled_spark(session: Any, view: dict, schema: str) -> pa.Table:
    """Compile a view to Spark SQL and run it; a missing resource table means no rows."""
    from warehouse.viewdef.sql_view import compile_parsed

    parsed = parse_view(view)
    target = output_schema(parsed)
    sql = compile_parsed(parsed, "spark", schema)
    if not session.catalog.tableExists(f"{schema}.fhir_{parsed.resource}"):
        return target.empty_table()
    try:
        result = session.sql(sql).toArrow()
    except Exception as error:  # noqa: BLE001 - a view error raised inside the query is a ViewDefinitionError
        if SQL_ERROR_PREFIX not in str(error):
            raise
        raise ViewDefinitionError(str(error).split(SQL_ERROR_PREFIX, 1)[1].split("\n")[0]) from error
    return result.cast(target)
