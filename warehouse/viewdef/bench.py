"""Rows per second of one view on three engines: the reference evaluator, the compiled DuckDB
query, and the same view algorithm with fhirpathpy as its FHIRPath engine (the baseline).

`benchmark(view, resources)` starts from Python dicts; `benchmark_ndjson(view, lines)` starts from
NDJSON text, as the warehouse does: then each interpreter's time includes parsing the lines
(`json.loads`), as the compiled path's load includes DuckDB's parse of the same text.

fhirpathpy is used only here. The SQL on FHIR functions it lacks (getResourceKey,
getReferenceKey) are added to it as user functions with the reference engine's semantics, and
`join` is replaced by the suite's reading (an empty input joins to ''); a view it still cannot run
reports an error for that engine instead of a rate.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from warehouse.viewdef import semantics
from warehouse.viewdef.errors import NotCompilable
from warehouse.viewdef.model import View, parse_view
from warehouse.viewdef.nodes import Node
from warehouse.viewdef.pyeval import Fn, Scope
from warehouse.viewdef.reference import evaluate_view, plan_view
from warehouse.viewdef.suite import compare_rows

__all__ = ["benchmark", "benchmark_ndjson", "fhirpathpy_builder", "Timing", "timed"]

Loader = Callable[[Any], object]  # creates the view's fhir_<Type> table on a DuckDB connection


def _resource_keys(inputs: list) -> list:
    return [semantics.to_text(i["id"]) for i in inputs if isinstance(i, dict) and i.get("id") is not None]


def _reference_keys(inputs: list, type_specifier: Any = None) -> list:
    wanted = getattr(type_specifier, "name", None)
    return [k for k in (semantics.reference_key(i, wanted) for i in inputs) if k is not None]


def _join(inputs: list, separator: str = "") -> list:
    """join as the SQL on FHIR suite reads it: an empty input gives '' (fhirpathpy gives empty)."""
    return [(separator or "").join(semantics.to_text(i) for i in inputs)]


_SQL_ON_FHIR_FUNCTIONS = {
    "join": {"fn": _join, "arity": {0: [], 1: ["String"]}},
    "getResourceKey": {"fn": _resource_keys, "arity": {0: []}},
    "getReferenceKey": {"fn": _reference_keys, "arity": {0: [], 1: ["TypeSpecifier"]}},
}


def fhirpathpy_builder(node: Node, text: str, scope: Scope) -> Fn:
    """A PathBuilder that evaluates each path with fhirpathpy (R4 model) on each focus item."""
    import fhirpathpy
    from fhirpathpy.models import models

    compiled = fhirpathpy.compile(text, models["r4"], options={"userInvocationTable": _SQL_ON_FHIR_FUNCTIONS})
    constants = dict(scope.constants)

    def run(this: list, ctx: tuple) -> list:
        env = {**constants, "rowIndex": ctx[1], "resource": ctx[0], "rootResource": ctx[0]}
        return [value for item in this for value in compiled(item, env)]
    return run


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds and CPU seconds of this process (all its threads, so DuckDB's workers count)."""
    wall: float
    cpu: float


def timed(run: Callable[[], pa.Table]) -> tuple[pa.Table, Timing]:
    wall, cpu = time.perf_counter(), time.process_time()
    table = run()
    return table, Timing(time.perf_counter() - wall, time.process_time() - cpu)


def _rate(table: pa.Table, timing: Timing, resources: int) -> dict[str, Any]:
    seconds = timing.wall
    return {"rows": table.num_rows, "seconds": round(seconds, 4), "cpu_seconds": round(timing.cpu, 4),
            "rows_per_second": round(table.num_rows / seconds, 1) if seconds > 0 else None,
            "rows_per_cpu_second": round(table.num_rows / timing.cpu, 1) if timing.cpu > 0 else None,
            "resources_per_second": round(resources / seconds, 1) if seconds > 0 else None}


def _duckdb_engine(view: dict, load_into: Loader, reference: pa.Table, count: int) -> dict[str, Any]:
    """Load into an in-memory DuckDB (timed apart), then time the compiled query."""
    from warehouse.engines.duckdb_views import in_memory, run_compiled

    try:
        with in_memory() as con:
            _, load = timed(lambda: load_into(con))
            compiled, timing = timed(lambda: run_compiled(con, view))
    except NotCompilable as error:
        return {"error": f"NotCompilable: {error}"}
    return {**_rate(compiled, timing, count), "load_seconds": round(load.wall, 4),
            "agrees_with_reference": compare_rows(compiled.to_pylist(), reference.to_pylist()) is None}


def _fhirpathpy_engine(parsed: View, source: Callable[[], Iterable[dict]], reference: pa.Table,
                       count: int) -> dict[str, Any]:
    try:
        baseline, timing = timed(lambda: evaluate_view(parsed, source(), fhirpathpy_builder))
    except Exception as error:  # fhirpathpy lacks some functions; report rather than fail the run
        return {"error": f"{type(error).__name__}: {error}"}
    return {**_rate(baseline, timing, count),
            "agrees_with_reference": compare_rows(baseline.to_pylist(), reference.to_pylist()) is None}


def _benchmark(view: dict, source: Callable[[], Iterable[dict]], count: int, load_into: Loader,
               parse_timed: bool) -> dict[str, Any]:
    """Every engine on the resources `source()` gives (called inside each interpreter's timing)."""
    parsed = parse_view(view)
    plan_view(parsed)  # warm the FHIR schema cache so no engine pays for it
    reference, timing = timed(lambda: evaluate_view(parsed, source()))
    return {"view": parsed.resource, "resources": count, "interpreters_parse_json": parse_timed, "engines": {
        "reference": _rate(reference, timing, count),
        "duckdb": _duckdb_engine(view, load_into, reference, count),
        "fhirpathpy": _fhirpathpy_engine(parsed, source, reference, count),
    }}


def benchmark(view: dict, resources: Iterable[dict]) -> dict[str, Any]:
    """Time `view` over `resources` on each engine; `agrees_with_reference` checks the rows match."""
    from warehouse.engines.duckdb_views import load_resources

    resources = list(resources)
    resource_type = parse_view(view).resource
    mine = [r for r in resources if r.get("resourceType") == resource_type]
    return _benchmark(view, lambda: resources, len(mine),
                      lambda con: load_resources(con, {resource_type: mine}), parse_timed=False)


def benchmark_ndjson(view: dict, lines: Sequence[str]) -> dict[str, Any]:
    """Time `view` over NDJSON `lines` of its resource type: the interpreters' times include
    `json.loads` of every line; DuckDB loads them with the warehouse's loader (`load_ndjson`)."""
    from warehouse.engines.duckdb_views import load_ndjson

    lines = [line.rstrip("\r\n") for line in lines if line.strip()]
    resource_type = parse_view(view).resource
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{resource_type}.ndjson"
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        return _benchmark(view, lambda: (json.loads(line) for line in lines), len(lines),
                          lambda con: load_ndjson(con, {resource_type: path}), parse_timed=True)
