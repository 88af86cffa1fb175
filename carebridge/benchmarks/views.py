"""Rows per second of the project's own views (warehouse/views/*.json): the compiled SQL path
versus per-resource FHIRPath interpreters, on the same views and data, in one run.

    run(persons, out) -> dict        # also written to <out>/bench_views.json

1. Build the FHIR output of `persons` synthetic people with the pipeline's pure functions
   (generate -> stage_landing -> build_person_index -> map_resources -> write_ndjson).
2. Compiled DuckDB over ALL of it, as the warehouse runs it: each resource type a view reads is
   loaded from its NDJSON file with the warehouse's loader (`warehouse.engines.duckdb_views.load_ndjson`,
   which parses every line), then each view runs as one query. Load and query are timed apart;
   rates are given excluding and including the load of the view's resource type, and the totals
   count each type's load once.
3. Optionally compiled PostgreSQL (jsonb, loaded with COPY) over all of it, when a URL is given.
4. The per-resource interpreters (the reference evaluator, and the same view algorithm with
   fhirpathpy as the FHIRPath engine, `warehouse.viewdef.bench`) over the same NDJSON files: all
   of each file, or its first `fhirpathpy_sample` lines (ids are UUIDs, so file order is
   arbitrary; their cost is linear in resources, so rows/s on the sample stands for rows/s on the
   whole, and the report says how many resources each rate was measured on). Their times include
   `json.loads` of every line: both paths start from the same text on disk. The compiled path is
   also run on the same lines, and the rows of all engines are compared there.

Steps 2 and 4 run one resource type at a time (its loads and compiled views, then its
interpreters), so that on a shared machine both paths run in about the same conditions. Compiled
loads and queries are each run three times (queries after one untimed warm-up: the first query on
a connection and each view's first run pay one-off costs) and the median counts; the interpreters
(up to a minute each) are timed on one run. Every time is taken on the wall clock and as CPU time
of this process (all its threads, DuckDB's workers included): on a shared machine the wall clock
depends on what else runs, CPU time much less; the 1-minute load average is recorded before and
after each type. Speed-ups are compiled rows/s over interpreted rows/s.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from carebridge.core.layout import OutputLayout
from warehouse.viewdef.bench import Timing, timed

__all__ = ["run", "build_fhir", "print_report"]

T = TypeVar("T")
REPEATS = 3
INTERPRETERS = ("fhirpathpy", "reference")


def _seconds(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def build_fhir(persons: int, out: Path, seed: int = 42) -> tuple[Path, dict[str, float]]:
    """The FHIR NDJSON export of `persons` synthetic people; returns its folder and stage timings."""
    from carebridge.core.reference import load_reference
    from fhir_mapping import map_resources, write_ndjson
    from carebridge.linkage import build_person_index
    from carebridge.staging import stage_landing
    from carebridge.synthetic import generate

    landing, truth = out / "landing", out / "truth"
    timings: dict[str, float] = {}
    _, timings["generate"] = _seconds(generate, persons, landing, truth, seed=seed, fault_rate=0.0)
    staged, timings["stage"] = _seconds(stage_landing, landing)
    index, timings["link"] = _seconds(build_person_index, staged.tables)
    mapping, timings["map"] = _seconds(map_resources, staged.tables, index, load_reference(landing))
    _, timings["write_ndjson"] = _seconds(write_ndjson, mapping.resources, out, "2026-03-31T00:00:00Z")
    return OutputLayout(out).fhir_ndjson, {k: round(v, 2) for k, v in timings.items()}


def _ndjson_files(folder: Path) -> dict[str, tuple[Path, int]]:
    from fhir_mapping.ndjson import manifest_files

    return manifest_files(folder)


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _duckdb_threads() -> int:
    con = duckdb.connect()
    try:
        return int(con.execute("SELECT current_setting('threads')").fetchall()[0][0])
    finally:
        con.close()


def _rate(rows: int, seconds: float) -> float | None:
    return round(rows / seconds, 1) if seconds > 0 else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 1) if a and b else None


def _median(run: Callable[[], T], repeats: int = REPEATS, warm_up: bool = False) -> tuple[T, Timing]:
    """`repeats` timed runs (after one untimed run if `warm_up`); the median wall and CPU times."""
    if warm_up:
        run()
    runs = [timed(run) for _ in range(repeats)]
    return runs[0][0], Timing(statistics.median(t.wall for _, t in runs), statistics.median(t.cpu for _, t in runs))


def _compiled_rates(rows: int, query: Timing, load: Timing) -> dict[str, Any]:
    return {"rows": rows, "load_seconds": round(load.wall, 3), "load_cpu_seconds": round(load.cpu, 3),
            "query_seconds": round(query.wall, 3), "query_cpu_seconds": round(query.cpu, 3),
            "rows_per_second": _rate(rows, query.wall), "rows_per_second_with_load": _rate(rows, query.wall + load.wall),
            "rows_per_cpu_second": _rate(rows, query.cpu),
            "rows_per_cpu_second_with_load": _rate(rows, query.cpu + load.cpu)}


def _view_types(files: dict[str, tuple[Path, int]], views: dict[str, dict]) -> list[str]:
    return sorted({v["resource"] for v in views.values()} & set(files))


def _compiled_duckdb(con: duckdb.DuckDBPyConnection, files: dict[str, tuple[Path, int]],
                     views: dict[str, dict]) -> dict[str, dict[str, Any]]:
    """Views over the whole export, compiled on DuckDB, loaded the way the warehouse loads it."""
    from warehouse.engines.duckdb_views import load_ndjson, run_compiled

    loads = {rtype: _median(lambda: load_ndjson(con, {rtype: files[rtype][0]}))[1] for rtype in _view_types(files, views)}
    results = {}
    for name, view in views.items():
        table, query = _median(lambda: run_compiled(con, view), warm_up=True)
        load = loads.get(view["resource"], Timing(0.0, 0.0))
        results[name] = {"resource": view["resource"], **_compiled_rates(table.num_rows, query, load)}
    return results


def _compiled_postgresql(files: dict[str, tuple[Path, int]], views: dict[str, dict], pg_url: str) -> dict[str, dict[str, Any]]:
    """Every view over the whole export, compiled on PostgreSQL (jsonb) in a throwaway schema. CPU
    time is this process's only: the server's work is not in it, so only wall-clock rates count."""
    import psycopg

    from warehouse.engines.postgresql_views import load_ndjson_pg, run_compiled_pg
    from warehouse.viewdef.suite import libpq_url

    schema = "bench_views"
    with psycopg.connect(libpq_url(pg_url), autocommit=True) as con:
        try:
            loads = {rtype: timed(lambda: load_ndjson_pg(con, {rtype: files[rtype][0]}, schema))[1]
                     for rtype in _view_types(files, views)}
            results = {}
            for name, view in views.items():
                table, query = _median(lambda: run_compiled_pg(con, view, schema), repeats=1, warm_up=True)
                load = loads.get(view["resource"], Timing(0.0, 0.0))
                results[name] = {"resource": view["resource"], **_compiled_rates(table.num_rows, query, load)}
            return results
        finally:
            con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _lines(path: Path, size: int | None) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return list(fh if size is None else islice(fh, size))


def _interpreted(files: dict[str, tuple[Path, int]], views: dict[str, dict], sample: int | None) -> dict[str, dict]:
    """Reference evaluator and fhirpathpy over (a sample of) each view's NDJSON lines, json.loads
    included; compiled DuckDB on the same lines too, for the agreement check."""
    from warehouse.viewdef.bench import benchmark_ndjson

    results = {}
    for name, view in views.items():
        if view["resource"] in files:
            report = benchmark_ndjson(view, _lines(files[view["resource"]][0], sample or None))
            results[name] = {"sample_resources": report["resources"], "engines": report["engines"]}
    return results


def _measure(files: dict[str, tuple[Path, int]], views: dict[str, dict],
             sample: int | None) -> tuple[dict[str, dict], dict[str, dict], dict[str, list[float]]]:
    """Compiled and interpreted results per view, one resource type at a time (its compiled views,
    then its interpreters), so that on a shared machine both paths run in about the same conditions;
    and the 1-minute load average before and after each type."""
    compiled: dict[str, dict] = {}
    interpreted: dict[str, dict] = {}
    load_1min: dict[str, list[float]] = {}
    groups: dict[str, dict[str, dict]] = {}
    for name, view in views.items():
        groups.setdefault(view["resource"], {})[name] = view
    con = duckdb.connect()
    try:
        for _, group in sorted(groups.items()):
            before = _load_average()[0]
            compiled.update(_compiled_duckdb(con, files, group))
            interpreted.update(_interpreted(files, group, sample))
            load_1min.update({name: [before, _load_average()[0]] for name in group})
    finally:
        con.close()
    return compiled, interpreted, load_1min


def _speedups(compiled: dict[str, Any], engines: dict[str, Any]) -> dict[str, float | None]:
    """Compiled over interpreted rows/s, by wall clock and CPU time, load excluded and included."""
    out = {}
    for engine in INTERPRETERS:
        wall, cpu = engines[engine].get("rows_per_second"), engines[engine].get("rows_per_cpu_second")
        out[f"vs_{engine}"] = _ratio(compiled["rows_per_second"], wall)
        out[f"vs_{engine}_with_load"] = _ratio(compiled["rows_per_second_with_load"], wall)
        out[f"vs_{engine}_cpu"] = _ratio(compiled["rows_per_cpu_second"], cpu)
        out[f"vs_{engine}_cpu_with_load"] = _ratio(compiled["rows_per_cpu_second_with_load"], cpu)
    return out


def _compiled_total(compiled: dict[str, dict], files: dict[str, tuple[Path, int]]) -> dict[str, Any]:
    """All views together on the compiled path; each resource type is loaded once however many
    views read it."""
    loaded = {v["resource"]: v for v in compiled.values()}
    load = Timing(sum(v["load_seconds"] for v in loaded.values()), sum(v["load_cpu_seconds"] for v in loaded.values()))
    query = Timing(sum(v["query_seconds"] for v in compiled.values()), sum(v["query_cpu_seconds"] for v in compiled.values()))
    resources = sum(files[t][1] for t in loaded if t in files)
    return {"resources": resources, **_compiled_rates(sum(v["rows"] for v in compiled.values()), query, load)}


def _interpreter_total(interpreted: dict[str, dict], engine: str) -> dict[str, Any]:
    measured = [(v["sample_resources"], v["engines"][engine]) for v in interpreted.values()
                if "rows" in v["engines"][engine]]
    rows = sum(m["rows"] for _, m in measured)
    wall, cpu = sum(m["seconds"] for _, m in measured), sum(m["cpu_seconds"] for _, m in measured)
    return {"resources": sum(n for n, _ in measured), "rows": rows, "seconds": round(wall, 3),
            "cpu_seconds": round(cpu, 3), "rows_per_second": _rate(rows, wall), "rows_per_cpu_second": _rate(rows, cpu)}


def _totals(compiled: dict[str, dict], interpreted: dict[str, dict], files: dict[str, tuple[Path, int]]) -> dict[str, Any]:
    """All views together: total rows over total time, per engine (interpreters on their samples)."""
    total = _compiled_total(compiled, files)
    engines = {engine: _interpreter_total(interpreted, engine) for engine in INTERPRETERS}
    return {"compiled_duckdb": total, **engines, "speedup": _speedups(total, engines)}


def run(persons: int, out: Path, seed: int = 42, fhirpathpy_sample: int | None = None,
        pg_url: str | None = None, reuse: bool = False) -> dict[str, Any]:
    """Build the FHIR output of `persons` people, then measure every project view on every engine.
    `fhirpathpy_sample`: lines per view for the interpreters (None: all). `reuse`: measure the
    export a previous run left in `out` instead of building it again."""
    from carebridge.benchmarks.pipeline import machine
    from warehouse.views_runner import view_definitions

    out = Path(out)
    previous = out / "bench_views.json"
    if reuse and previous.exists():
        ndjson, build_seconds = OutputLayout(out).fhir_ndjson, json.loads(previous.read_text())["build_seconds"]
    else:
        if out.exists():
            shutil.rmtree(out)
        ndjson, build_seconds = build_fhir(persons, out, seed)
    files = _ndjson_files(ndjson)
    views = view_definitions()
    load_average = {"before": _load_average()}
    compiled, interpreted, load_1min = _measure(files, views, fhirpathpy_sample)
    load_average["after"] = _load_average()
    per_view = {name: {"resource": view["resource"], "resources": files.get(view["resource"], (None, 0))[1],
                       "load_average_1min": load_1min[name], "compiled_duckdb": compiled[name],
                       **interpreted.get(name, {}),
                       "speedup": _speedups(compiled[name], interpreted[name]["engines"]) if name in interpreted else None}
                for name, view in views.items()}
    result: dict[str, Any] = {
        "persons": persons, "machine": {**machine(), "duckdb": duckdb.__version__, "duckdb_threads": _duckdb_threads()},
        "load_average_1_5_15_min": load_average, "build_seconds": build_seconds,
        "fhir_resources": sum(count for _, count in files.values()),
        "fhirpathpy_sample": fhirpathpy_sample, "interpreters_parse_json": True, "repeats": REPEATS,
        "views": per_view, "totals": _totals(compiled, interpreted, files),
    }
    if pg_url:
        result["compiled_postgresql"] = _compiled_postgresql(files, views, pg_url)
    (out / "bench_views.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


# --- the printed report ------------------------------------------------------------------------

def _n(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _print_compiled(result: dict[str, Any]) -> None:
    print(f"\ncompiled DuckDB, all resources (median of {result['repeats']} loads and of {result['repeats']} queries)")
    print(f"{'view':<22}{'resources':>10}{'rows':>9}{'load s wall/cpu':>17}{'query s wall/cpu':>18}"
          f"{'rows/s':>10}{'+load':>9}{'rows/cpu-s':>12}{'+load':>9}")
    rows = [(name, v["resources"], v["compiled_duckdb"]) for name, v in result["views"].items()]
    total = result["totals"]["compiled_duckdb"]
    for name, resources, c in rows + [("all views (load once)", total["resources"], total)]:
        print(f"{name:<22}{resources:>10,}{c['rows']:>9,}{c['load_seconds']:>9.3f}/{c['load_cpu_seconds']:<7.3f}"
              f"{c['query_seconds']:>10.3f}/{c['query_cpu_seconds']:<7.3f}{_n(c['rows_per_second']):>10}"
              f"{_n(c['rows_per_second_with_load']):>9}{_n(c['rows_per_cpu_second']):>12}"
              f"{_n(c['rows_per_cpu_second_with_load']):>9}")


def _print_interpreters(result: dict[str, Any]) -> None:
    sample = result["fhirpathpy_sample"]
    print(f"\ninterpreters, {f'first {sample:,}' if sample else 'all'} resources per view, json.loads of each line included")
    print(f"{'view':<22}{'resources':>10}{'rows':>9}{'reference s wall/cpu':>22}{'fhirpathpy s wall/cpu':>23}"
          f"{'fpp rows/s':>11}{'rows/cpu-s':>11}{'agree':>7}")
    for name, v in result["views"].items():
        engines = v.get("engines", {})
        ref, fpp = engines.get("reference", {}), engines.get("fhirpathpy", {})
        agree = fpp.get("agrees_with_reference") and engines.get("duckdb", {}).get("agrees_with_reference")
        print(f"{name:<22}{v.get('sample_resources', 0):>10,}{fpp.get('rows', 0):>9,}"
              f"{ref.get('seconds', 0):>13.3f}/{ref.get('cpu_seconds', 0):<8.3f}"
              f"{fpp.get('seconds', 0):>14.3f}/{fpp.get('cpu_seconds', 0):<8.3f}"
              f"{_n(fpp.get('rows_per_second')):>11}{_n(fpp.get('rows_per_cpu_second')):>11}{'yes' if agree else 'NO':>7}")
    t = result["totals"]["fhirpathpy"]
    print(f"{'all views':<22}{t['resources']:>10,}{t['rows']:>9,}{'':>22}{t['seconds']:>14.3f}/{t['cpu_seconds']:<8.3f}"
          f"{_n(t['rows_per_second']):>11}{_n(t['rows_per_cpu_second']):>11}")


def _print_speedups(result: dict[str, Any]) -> None:
    print("\nspeed-up of compiled DuckDB over fhirpathpy (compiled rows/s on all resources over fhirpathpy rows/s)")
    print(f"{'view':<22}{'wall':>8}{'wall+load':>11}{'cpu':>8}{'cpu+load':>10}{'load avg 1 min':>17}")
    rows = [(name, v.get("speedup") or {}, v["load_average_1min"]) for name, v in result["views"].items()]
    whole = result["load_average_1_5_15_min"]
    for name, s, load in rows + [("all views", result["totals"]["speedup"], [whole["before"][0], whole["after"][0]])]:
        print(f"{name:<22}{_n(s.get('vs_fhirpathpy'), 1):>8}{_n(s.get('vs_fhirpathpy_with_load'), 1):>11}"
              f"{_n(s.get('vs_fhirpathpy_cpu'), 1):>8}{_n(s.get('vs_fhirpathpy_cpu_with_load'), 1):>10}"
              f"{load[0]:>10.2f} -> {load[1]:<5.2f}")


def print_report(result: dict[str, Any]) -> None:
    m, load = result["machine"], result["load_average_1_5_15_min"]
    print(f"\ncarebridge views bench: {result['persons']:,} persons, {result['fhir_resources']:,} FHIR resources")
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}, "
          f"DuckDB {m['duckdb']} ({m['duckdb_threads']} threads)")
    print("load average (1/5/15 min): " + "; ".join(f"{k.replace('_', ' ')} {' '.join(map(str, v))}" for k, v in load.items()))
    print("both paths start from the same NDJSON files: DuckDB's load parses them, the interpreters' times include json.loads")
    _print_compiled(result)
    _print_interpreters(result)
    _print_speedups(result)
    t = result["totals"]
    c, f = t["compiled_duckdb"], t["fhirpathpy"]
    for label, suffix, key in (("wall clock", "", "second"), ("CPU time", "_cpu", "cpu_second")):
        print(f"all views, {label}: compiled DuckDB {_n(c[f'rows_per_{key}'])} rows/s "
              f"({_n(c[f'rows_per_{key}_with_load'])} with load), reference {_n(t['reference'][f'rows_per_{key}'])}, "
              f"fhirpathpy {_n(f[f'rows_per_{key}'])}: {t['speedup'][f'vs_fhirpathpy{suffix}']}x "
              f"({t['speedup'][f'vs_fhirpathpy{suffix}_with_load']}x with load) faster than fhirpathpy")
    if "compiled_postgresql" in result:
        pg = result["compiled_postgresql"]
        rows = sum(v["rows"] for v in pg.values())
        seconds = sum(v["query_seconds"] for v in pg.values())
        print(f"compiled PostgreSQL: {_rate(rows, seconds) or 0:,.0f} rows/s over all views (wall clock, load excluded)")
