"""`carebridge bench`: generate N persons, run the real Dagster jobs, report time and peak memory per stage.

Figures are measured on this machine in this run; nothing is estimated. Per-stage peak memory is
the highest resident memory of the process tree sampled while that stage ran. Beside them, the
physical bound measured in the same run (`bound.physical_bound`: DuckDB reading the same landing
files and writing as many NDJSON bytes as the export) and the ratio pipeline / bound.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import tempfile
import time
from pathlib import Path

from carebridge.benchmarks.bound import physical_bound
from carebridge.benchmarks.memory import MemorySampler
from carebridge.core.layout import OutputLayout
from carebridge.core.settings import default_warehouse_url

__all__ = ["run_benchmark", "machine"]

_STEP = re.compile(r"\]\s+(\S+)(?: \S+)?: (done|FAILED)")


def machine() -> dict[str, object]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kb / 2**20, 1),
            "python": platform.python_version()}


def _stage_table(events: list[tuple[float, str]], start: float, sampler: MemorySampler) -> list[dict[str, object]]:
    """Consecutive step completions -> per-stage wall time and peak RSS (months of staging summed)."""
    stages: dict[str, dict[str, float]] = {}
    previous = start
    for when, name in events:
        stage = stages.setdefault(name, {"seconds": 0.0, "peak_bytes": 0, "cpu": 0.0})
        stage["seconds"] += when - previous
        stage["cpu"] += sampler.cpu_between(previous, when)
        stage["peak_bytes"] = max(stage["peak_bytes"], sampler.peak_between(previous, when))
        previous = when
    return [{"stage": name, "seconds": round(v["seconds"], 2), "cpu_seconds": round(v["cpu"], 1),
             "peak_mib": round(v["peak_bytes"] / 2**20)} for name, v in stages.items()]


def _row_counts(url: str) -> dict[str, int]:
    from warehouse.db import make_engine, query

    engine = make_engine(url)
    try:
        staged = query(engine, "SELECT sum(rows_staged) AS n, sum(rows_read) AS r FROM audit.load_audit").to_pylist()[0]
        persons = query(engine, "SELECT count(*) AS n FROM linkage.person").to_pylist()[0]["n"]
        contacts = query(engine, "SELECT count(*) AS n FROM analytics.contact").to_pylist()[0]["n"]
    finally:
        engine.dispose()
    return {"rows_read": int(staged["r"] or 0), "rows_staged": int(staged["n"] or 0), "persons_indexed": persons,
            "analytics_contacts": contacts}


def _load() -> str:
    """The machine's load averages (1, 5, 15 minutes) when the run ended: the machine may be shared."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def _ndjson_bytes(out: Path) -> int:
    return sum(p.stat().st_size for p in OutputLayout(out).fhir_ndjson.glob("*.ndjson"))


def _resource_count(out: Path) -> int:
    manifest = json.loads((OutputLayout(out).fhir_ndjson / "manifest.json").read_text())
    return sum(item["count"] for item in manifest["output"])


def run_benchmark(persons: int, out: Path, seed: int = 42, fault_rate: float = 0.02, engine: str = "duckdb") -> int:
    from carebridge.runner import run_pipeline
    from carebridge.synthetic import generate

    if out.exists():
        shutil.rmtree(out)
    landing, truth = out / "landing", out / "truth"
    url = default_warehouse_url(out, engine)
    events: list[tuple[float, str]] = []

    def record(line: str) -> None:
        match = _STEP.search(line)
        if match:
            events.append((time.monotonic(), match.group(1)))

    with MemorySampler() as sampler:
        t0 = time.monotonic()
        generate(persons, landing, truth, seed=seed, fault_rate=fault_rate)
        t1 = time.monotonic()
        # A throwaway key outside the output folder: the benchmark's person_keys are never kept.
        key_dir = Path(tempfile.mkdtemp(prefix="carebridge-bench-"))
        run_pipeline(landing, out, warehouse_url=url, key_file=key_dir / "bench.key", reporter=record)
        t2 = time.monotonic()
    bound = physical_bound(landing, _ndjson_bytes(out), out / "bound")
    stages = [{"stage": "generate (synthetic, not part of the pipeline)", "seconds": round(t1 - t0, 2),
               "cpu_seconds": round(sampler.cpu_between(t0, t1), 1),
               "peak_mib": round(sampler.peak_between(t0, t1) / 2**20)}]
    stages += _stage_table(events, t1, sampler)
    result = {
        "persons": persons, "fault_rate": fault_rate, "engine": engine, "machine": machine(),
        "pipeline_seconds": round(t2 - t1, 2), "pipeline_cpu_seconds": round(sampler.cpu_between(t1, t2), 1),
        "pipeline_peak_mib": round(sampler.peak_between(t1, t2) / 2**20),
        "load_average": _load(),
        "stages": stages, "fhir_resources": _resource_count(out),
        "fhir_resources_per_second": _per_second(_resource_count(out), stages, "fhir_resources"),
        "bound": bound, "ratio_to_bound": round((t2 - t1) / bound["seconds"], 1) if bound["seconds"] else None,
        **_row_counts(url),
    }
    shutil.rmtree(key_dir, ignore_errors=True)
    (out / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    _print(result)
    return 0


def _per_second(resources: int, stages: list[dict[str, object]], name: str) -> int | None:
    seconds = next((float(s["seconds"]) for s in stages if s["stage"] == name), 0.0)
    return round(resources / seconds) if seconds else None


def _print(result: dict) -> None:
    m = result["machine"]
    print(f"\ncarebridge bench: {result['persons']:,} persons, fault rate {result['fault_rate']}, "
          f"engine {result.get('engine', 'duckdb')}")
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}")
    print(f"load average at the end (1, 5, 15 min): {result['load_average']}")
    print(f"{'stage':<48}{'seconds':>10}{'CPU s':>10}{'peak MiB':>10}")
    for stage in result["stages"]:
        print(f"{stage['stage']:<48}{stage['seconds']:>10.2f}{stage['cpu_seconds']:>10.1f}{stage['peak_mib']:>10}")
    print(f"{'pipeline end to end (Dagster, in process)':<48}{result['pipeline_seconds']:>10.2f}"
          f"{result['pipeline_cpu_seconds']:>10.1f}{result['pipeline_peak_mib']:>10}")
    print(f"rows read {result['rows_read']:,}, staged {result['rows_staged']:,}; persons {result['persons_indexed']:,}; "
          f"FHIR resources {result['fhir_resources']:,}; analytics contacts {result['analytics_contacts']:,}")
    b = result["bound"]
    print(f"fhir_resources stage: {result['fhir_resources_per_second'] or 0:,} resources/s")
    print(f"physical bound (DuckDB, same run): read {b['files']:,} landing files ({b['bytes_read'] / 1e6:,.1f} MB, "
          f"{b['rows_read']:,} rows) in {b['read_seconds']:.2f} s + write {b['ndjson_bytes'] / 1e6:,.1f} MB of NDJSON "
          f"in {b['write_seconds']:.2f} s = {b['seconds']:.2f} s; pipeline / bound = {result['ratio_to_bound']}x")
