"""Evaluate the project's ViewDefinitions over the FHIR export into `fhir.v_*`.

The NDJSON files are loaded as `fhir.fhir_<Type>(id, resource)` (JSON on DuckDB, each line
parsed once: `warehouse.engines.duckdb_views.load_ndjson`; jsonb on PostgreSQL) and each view runs
as one compiled SQL query inside the warehouse. Elsewhere (or for a view the compiler cannot take) the reference
evaluator runs per resource and the rows are loaded in bulk.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pyarrow as pa

from warehouse.catalog import fhir as fhir_catalog
from warehouse.engines import Warehouse, backend
from warehouse.viewdef import NotCompilable, evaluate
from fhir_mapping.ndjson import manifest_parts
from fhir_mapping.terminology import default_base, terminology

__all__ = ["VIEWS_DIR", "view_definitions", "materialise_views"]

VIEWS_DIR = Path(__file__).parent / "views"
SCHEMA = fhir_catalog.SCHEMA


@cache
def view_definitions() -> dict[str, dict]:
    """View table name (`v_patient`, ...) -> ViewDefinition, from `warehouse/views/*.json`.

    The files spell carebridge's systems and extensions with the default base URL
    (fhir_mapping/terminology.yaml); they are read with the configured one, so the views filter
    on the URLs the export was written with."""
    default, base = default_base(), terminology()["base"]
    return {path.stem: json.loads(path.read_text(encoding="utf-8").replace(default, base))
            for path in sorted(VIEWS_DIR.glob("v_*.json"))}


def _ndjson_files(ndjson_dir: Path) -> dict[str, tuple[Path, ...]]:
    """Each type's files: one, or every part of a partitioned export (`manifest_parts`)."""
    return {rtype: paths for rtype, (paths, _) in manifest_parts(ndjson_dir).items()}


def _read_type(files: dict[str, tuple[Path, ...]], rtype: str) -> list[dict]:
    found = []
    for path in files.get(rtype, ()):
        with open(path, encoding="utf-8") as fh:
            found += [json.loads(line) for line in fh if line.strip()]
    return found


def materialise_views(engine: Warehouse, ndjson_dir: Path) -> dict[str, int]:
    """Write every view to `fhir.<view name>`; returns row counts per view."""
    views = view_definitions()
    files = _ndjson_files(Path(ndjson_dir))
    counts: dict[str, int] = {}
    compiled: dict[str, pa.Table] = {}
    warehouse = backend(engine)
    types = sorted({v["resource"] for v in views.values()})
    with warehouse.driver() as con:
        warehouse.load_ndjson(con, {rtype: files.get(rtype) for rtype in types}, SCHEMA)
        for name, view in views.items():
            try:
                compiled[name] = warehouse.run_view(con, view, SCHEMA)
            except NotCompilable:
                pass
    for name, view in views.items():
        table = compiled.get(name)
        if table is None:
            table = evaluate(view, _read_type(files, view["resource"]))
        fhir_catalog.save_view(engine, name, table)
        counts[name] = table.num_rows
    return counts
