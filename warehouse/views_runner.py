"""Evaluate the project's ViewDefinitions over the FHIR export into `identifiable.v_*`.

The NDJSON files are loaded as `identifiable.fhir_<Type>(id, resource)` (JSON on DuckDB, each line
parsed once: `loading.load_ndjson`; jsonb on PostgreSQL) and each view runs as one compiled SQL
query inside the warehouse. Elsewhere (or for a view the compiler cannot take) the reference
evaluator runs per resource and the rows are loaded in bulk.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa

from fhir_mapping.terminology import default_base, terminology
from warehouse.db import is_duckdb, is_postgres, write_table
from warehouse.viewdef import NotCompilable, evaluate, run_compiled
from warehouse.viewdef.loading import load_ndjson
from warehouse.viewdef.postgres import load_ndjson_pg, run_compiled_pg

__all__ = ["VIEWS_DIR", "view_definitions", "materialise_views"]

VIEWS_DIR = Path(__file__).parent / "views"
SCHEMA = "identifiable"


@cache
def view_definitions() -> dict[str, dict]:
    """View table name (`v_patient`, ...) -> ViewDefinition, from `warehouse/views/*.json`.

    The files spell carebridge's systems and extensions with the default base URL
    (fhir_mapping/terminology.yaml); they are read with the configured one, so the views filter
    on the URLs the export was written with."""
    default, base = default_base(), terminology()["base"]
    return {path.stem: json.loads(path.read_text(encoding="utf-8").replace(default, base))
            for path in sorted(VIEWS_DIR.glob("v_*.json"))}


def _ndjson_files(ndjson_dir: Path) -> dict[str, Path]:
    manifest = json.loads((ndjson_dir / "manifest.json").read_text(encoding="utf-8"))
    return {item["type"]: ndjson_dir / item["url"] for item in manifest["output"]}


def _load_ndjson_duckdb(duck, files: dict[str, Path], types: set[str]) -> None:
    load_ndjson(duck, {rtype: files.get(rtype) for rtype in sorted(types)}, SCHEMA)


def _load_ndjson_postgres(con, files: dict[str, Path], types: set[str]) -> None:
    load_ndjson_pg(con, {rtype: files.get(rtype) for rtype in sorted(types)}, SCHEMA)


# engine -> (load the NDJSON files as fhir_<Type> tables, run one compiled view)
_COMPILED = {"duckdb": (_load_ndjson_duckdb, run_compiled), "postgresql": (_load_ndjson_postgres, run_compiled_pg)}


def _read_type(files: dict[str, Path], rtype: str) -> list[dict]:
    if rtype not in files:
        return []
    with open(files[rtype], encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def materialise_views(engine: sa.Engine, ndjson_dir: Path) -> dict[str, int]:
    """Write every view to `identifiable.<view name>`; returns row counts per view."""
    views = view_definitions()
    files = _ndjson_files(Path(ndjson_dir))
    counts: dict[str, int] = {}
    compiled: dict[str, pa.Table] = {}
    if is_duckdb(engine) or is_postgres(engine):
        types = {v["resource"] for v in views.values()}
        load, run = _COMPILED["duckdb" if is_duckdb(engine) else "postgresql"]
        raw = engine.raw_connection()
        try:
            driver = raw.driver_connection
            load(driver, files, types)
            for name, view in views.items():
                try:
                    compiled[name] = run(driver, view, schema=SCHEMA)
                except NotCompilable:
                    pass
            raw.commit()
        finally:
            raw.close()
    for name, view in views.items():
        table = compiled.get(name)
        if table is None:
            table = evaluate(view, _read_type(files, view["resource"]))
        write_table(engine, SCHEMA, name, table)
        counts[name] = table.num_rows
    return counts
