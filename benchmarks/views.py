"""Rows per second of the project's own views (warehouse/views/*.json): the compiled SQL path
versus per-resource FHIRPath interpreters, on the same views and data, in one run.

    run(persons, out) -> dict        # also written to <out>/bench_views.json

1. Build the FHIR output of `persons` synthetic people with the pipeline's pure functions
   (generate -> stage_landing -> build_person_index -> map_resources -> write_ndjson).
2. Compiled DuckDB over ALL of it, as the warehouse runs it: each resource type's NDJSON is loaded
   into `fhir_<Type>(id, resource JSON)` (load timed apart), then each view runs as one query.
   Rates are given excluding and including the load of the view's resource type.
3. Optionally compiled PostgreSQL (jsonb, loaded with COPY) over all of it, when a URL is given.
4. The per-resource interpreters (the reference evaluator, and the same view algorithm with
   fhirpathpy as the FHIRPath engine, `warehouse.viewdef.bench`) over a sample: the first
   `fhirpathpy_sample` resources of the view's type in file order (ids are UUIDs, so the order is
   arbitrary). Their cost is linear in resources, so rows/s on the sample stands for rows/s on
   the whole; the report says how many resources each rate was measured on. The compiled path
   is also run on the same sample, and the rows of all engines are compared there.

Each compiled query runs once untimed first (DuckDB's first query on a connection, and each
view's first run, pay one-off costs), then the fastest of three runs counts; the interpreters
(tens of seconds each) are timed on one run. Every time is taken on the wall clock and as CPU time
of this process (all its threads, DuckDB's workers included): on a shared machine the wall clock
of one run depends on what else runs, CPU time much less.
Speed-ups are compiled rows/s (whole data, load excluded and included) over interpreted rows/s.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from warehouse.viewdef.bench import Timing, timed

__all__ = ["run", "build_fhir", "print_report"]


def _seconds(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def build_fhir(persons: int, out: Path, seed: int = 42) -> tuple[Path, dict[str, float]]:
    """The FHIR NDJSON export of `persons` synthetic people; returns its folder and stage timings."""
    from carebridge.reference import load_reference
    from fhir_mapping import map_resources, write_ndjson
    from linkage import build_person_index
    from staging import stage_landing
    from synthetic import generate

    landing, truth = out / "landing", out / "truth"
    timings: dict[str, float] = {}
    _, timings["generate"] = _seconds(generate, persons, landing, truth, seed=seed, fault_rate=0.0)
    staged, timings["stage"] = _seconds(stage_landing, landing)
    index, timings["link"] = _seconds(build_person_index, staged.tables)
    mapping, timings["map"] = _seconds(map_resources, staged.tables, index, load_reference(landing))
    _, timings["write_ndjson"] = _seconds(write_ndjson, mapping.resources, out, "2026-03-31T00:00:00Z")
    return out / "fhir" / "ndjson", {k: round(v, 2) for k, v in timings.items()}


def _ndjson_files(folder: Path) -> dict[str, tuple[Path, int]]:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return {item["type"]: (folder / item["url"], item["count"]) for item in manifest["output"]}


def _rate(rows: int, seconds: float) -> float | None:
    return round(rows / seconds, 1) if seconds > 0 else None


def _best_run(run: Callable[[], pa.Table], repeats: int = 3) -> tuple[pa.Table, Timing]:
    """One untimed warm-up (first-query and first-regex costs), then the fastest of `repeats` runs
    by wall clock and by CPU time, each on its own (a shared machine slows some runs down)."""
    run()
    runs = [timed(run) for _ in range(repeats)]
    return runs[0][0], Timing(min(t.wall for _, t in runs), min(t.cpu for _, t in runs))


def _compiled_rates(table: pa.Table, timing: Timing, load: Timing, resource: str) -> dict[str, Any]:
    rows = table.num_rows
    return {"resource": resource, "rows": rows, "query_seconds": round(timing.wall, 3),
            "query_cpu_seconds": round(timing.cpu, 3), "load_seconds": round(load.wall, 3),
            "load_cpu_seconds": round(load.cpu, 3),
            "rows_per_second": _rate(rows, timing.wall), "rows_per_second_with_load": _rate(rows, timing.wall + load.wall),
            "rows_per_cpu_second": _rate(rows, timing.cpu), "rows_per_cpu_second_with_load": _rate(rows, timing.cpu + load.cpu)}


def _compiled_duckdb(files: dict[str, tuple[Path, int]], views: dict[str, dict]) -> dict[str, dict[str, Any]]:
    """Every view over the whole export, compiled on DuckDB, loaded the way the warehouse loads it."""
    from warehouse.viewdef import run_compiled

    con = duckdb.connect()
    try:
        loads: dict[str, Timing] = {}
        for rtype in sorted({v["resource"] for v in views.values()} & set(files)):
            _, loads[rtype] = timed(lambda: con.execute(f"""CREATE TABLE fhir_{rtype} AS
                SELECT json ->> 'id' AS id, json AS resource
                FROM read_json_objects(?, format = 'newline_delimited')""", [str(files[rtype][0])]))
        results = {}
        for name, view in views.items():
            table, timing = _best_run(lambda: run_compiled(con, view))
            results[name] = _compiled_rates(table, timing, loads.get(view["resource"], Timing(0.0, 0.0)), view["resource"])
        return results
    finally:
        con.close()


def _compiled_postgresql(files: dict[str, tuple[Path, int]], views: dict[str, dict], pg_url: str) -> dict[str, dict[str, Any]]:
    """Every view over the whole export, compiled on PostgreSQL (jsonb) in a throwaway schema. CPU
    time is this process's only: the server's work is not in it, so only wall-clock rates count."""
    import psycopg

    from warehouse.viewdef.postgres import load_ndjson_pg, run_compiled_pg
    from warehouse.viewdef.suite import libpq_url

    schema = "bench_views"
    with psycopg.connect(libpq_url(pg_url), autocommit=True) as con:
        try:
            loads: dict[str, Timing] = {}
            for rtype in sorted({v["resource"] for v in views.values()} & set(files)):
                _, loads[rtype] = timed(lambda: load_ndjson_pg(con, {rtype: files[rtype][0]}, schema))
            results = {}
            for name, view in views.items():
                table, timing = _best_run(lambda: run_compiled_pg(con, view, schema), repeats=1)
                results[name] = _compiled_rates(table, timing, loads.get(view["resource"], Timing(0.0, 0.0)),
                                                view["resource"])
            return results
        finally:
            con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _sample(path: Path, size: int | None) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        lines = fh if size is None else islice(fh, size)
        return [json.loads(line) for line in lines if line.strip()]


def _interpreted(files: dict[str, tuple[Path, int]], views: dict[str, dict], sample: int | None) -> dict[str, dict]:
    """Reference evaluator and fhirpathpy on a sample of each view's resources (compiled DuckDB on the
    same sample too, for the agreement check)."""
    from warehouse.viewdef import benchmark

    results = {}
    for name, view in views.items():
        if view["resource"] not in files:
            continue
        resources = _sample(files[view["resource"]][0], sample or None)
        report = benchmark(view, resources)
        results[name] = {"sample_resources": report["resources"], "engines": report["engines"]}
    return results


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 1) if a and b else None


def _speedups(compiled: dict[str, Any], interpreted: dict[str, Any]) -> dict[str, Any]:
    """Compiled over interpreted rows/s, by wall clock and by CPU time, load excluded and included."""
    out = {}
    for engine in ("fhirpathpy", "reference"):
        rates = interpreted["engines"][engine]
        out[f"vs_{engine}"] = _ratio(compiled["rows_per_second"], rates.get("rows_per_second"))
        out[f"vs_{engine}_with_load"] = _ratio(compiled["rows_per_second_with_load"], rates.get("rows_per_second"))
        out[f"vs_{engine}_cpu"] = _ratio(compiled["rows_per_cpu_second"], rates.get("rows_per_cpu_second"))
        out[f"vs_{engine}_cpu_with_load"] = _ratio(compiled["rows_per_cpu_second_with_load"], rates.get("rows_per_cpu_second"))
    return out


def _totals(compiled: dict[str, dict], interpreted: dict[str, dict]) -> dict[str, Any]:
    """All views together: total rows over total time, per engine (interpreters on their samples).
    Each resource type is loaded once however many views read it."""
    rows = sum(v["rows"] for v in compiled.values())
    out: dict[str, Any] = {}
    for clock, suffix in (("", ""), ("cpu_", "_cpu")):
        query = sum(v[f"query_{clock}seconds"] for v in compiled.values())
        load = sum({v["resource"]: v[f"load_{clock}seconds"] for v in compiled.values()}.values())
        out[f"compiled_duckdb{suffix}"] = _rate(rows, query)
        out[f"compiled_duckdb{suffix}_with_load"] = _rate(rows, query + load)
        for engine in ("reference", "fhirpathpy"):
            measured = [v["engines"][engine] for v in interpreted.values() if "rows" in v["engines"][engine]]
            out[f"{engine}{suffix}"] = _rate(sum(m["rows"] for m in measured), sum(m[f"{clock}seconds"] for m in measured))
        out[f"speedup_vs_fhirpathpy{suffix}"] = _ratio(out[f"compiled_duckdb{suffix}"], out[f"fhirpathpy{suffix}"])
        out[f"speedup_vs_fhirpathpy{suffix}_with_load"] = _ratio(out[f"compiled_duckdb{suffix}_with_load"],
                                                                 out[f"fhirpathpy{suffix}"])
    return out


def run(persons: int, out: Path, seed: int = 42, fhirpathpy_sample: int | None = 20_000,
        pg_url: str | None = None, reuse: bool = False) -> dict[str, Any]:
    """Build the FHIR output of `persons` people, then measure every project view on every engine.
    `reuse`: measure the export a previous run left in `out` instead of building it again."""
    from benchmarks.pipeline import machine
    from warehouse.views_runner import view_definitions

    out = Path(out)
    previous = out / "bench_views.json"
    if reuse and previous.exists():
        ndjson, build_seconds = out / "fhir" / "ndjson", json.loads(previous.read_text())["build_seconds"]
    else:
        if out.exists():
            shutil.rmtree(out)
        ndjson, build_seconds = build_fhir(persons, out, seed)
    files = _ndjson_files(ndjson)
    views = view_definitions()
    compiled = _compiled_duckdb(files, views)
    interpreted = _interpreted(files, views, fhirpathpy_sample)
    per_view = {name: {"resource": view["resource"], "resources": files.get(view["resource"], (None, 0))[1],
                       "compiled_duckdb": compiled[name], **interpreted.get(name, {}),
                       "speedup": _speedups(compiled[name], interpreted[name]) if name in interpreted else None}
                for name, view in views.items()}
    result: dict[str, Any] = {
        "persons": persons, "machine": machine(), "build_seconds": build_seconds,
        "fhir_resources": sum(count for _, count in files.values()),
        "fhirpathpy_sample": fhirpathpy_sample, "views": per_view, "totals": _totals(compiled, interpreted),
    }
    if pg_url:
        result["compiled_postgresql"] = _compiled_postgresql(files, views, pg_url)
    (out / "bench_views.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def print_report(result: dict[str, Any]) -> None:
    m = result["machine"]
    print(f"\ncarebridge views bench: {result['persons']:,} persons, {result['fhir_resources']:,} FHIR resources")
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}")
    sample = result["fhirpathpy_sample"]
    print(f"interpreters measured on {f'up to {sample:,}' if sample else 'all'} resources per view; compiled on all")
    print(f"{'view':<22}{'rows':>9}{'duckdb r/s':>12}{'+load':>9}{'reference':>11}{'fhirpathpy':>12}"
          f"{'x fpp':>7}{'x fpp cpu':>11}{'agree':>7}")
    for name, v in result["views"].items():
        c = v["compiled_duckdb"]
        engines = v.get("engines", {})
        ref, fpp = engines.get("reference", {}), engines.get("fhirpathpy", {})
        agree = fpp.get("agrees_with_reference") and engines.get("duckdb", {}).get("agrees_with_reference")
        speed = v.get("speedup") or {}
        print(f"{name:<22}{c['rows']:>9,}{c['rows_per_second'] or 0:>12,.0f}{c['rows_per_second_with_load'] or 0:>9,.0f}"
              f"{ref.get('rows_per_second') or 0:>11,.0f}{fpp.get('rows_per_second') or 0:>12,.0f}"
              f"{speed.get('vs_fhirpathpy') or 0:>7,.1f}{speed.get('vs_fhirpathpy_cpu') or 0:>11,.1f}"
              f"{'yes' if agree else 'NO':>7}")
    t = result["totals"]
    for label, suffix in (("wall clock", ""), ("CPU time", "_cpu")):
        print(f"all views, {label}: compiled DuckDB {t[f'compiled_duckdb{suffix}'] or 0:,.0f} rows/s "
              f"({t[f'compiled_duckdb{suffix}_with_load'] or 0:,.0f} with load), reference {t[f'reference{suffix}'] or 0:,.0f}, "
              f"fhirpathpy {t[f'fhirpathpy{suffix}'] or 0:,.0f}: {t[f'speedup_vs_fhirpathpy{suffix}']}x "
              f"({t[f'speedup_vs_fhirpathpy{suffix}_with_load']}x with load) faster than fhirpathpy")
    if "compiled_postgresql" in result:
        pg = result["compiled_postgresql"]
        rows = sum(v["rows"] for v in pg.values())
        seconds = sum(v["query_seconds"] for v in pg.values())
        print(f"compiled PostgreSQL: {rows / seconds:,.0f} rows/s over all views (wall clock, load excluded)")
