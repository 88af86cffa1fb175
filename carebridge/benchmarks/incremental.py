"""`carebridge bench --incremental`: what a month costs once a system is built.

Generates N persons over 13 months, holds the last month back, and runs the real Dagster jobs three
times on one output folder: the full build of the first 12 months, a re-run with nothing new, and
the run after the 13th month arrives. Per run and per stage: wall time, CPU time (user + sys of the
process tree) and peak memory, and each run's share of the full build. Figures are measured in
this run; the machine may be shared (the load average is reported with them).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from carebridge.benchmarks.memory import MemorySampler
from carebridge.benchmarks.pipeline import _STEP, _load, _stage_table, machine
from carebridge.core.settings import default_warehouse_url

__all__ = ["run_incremental_benchmark", "MONTHS"]

MONTHS = ("2025-04", "2026-04")      # 13 months: 12 built, then one more
_RUNS = ("full build (12 months)", "re-run, nothing new", "one month added")


def _hold_back(landing: Path, month: str, aside: Path) -> None:
    """Move every delivery of `month` out of the landing area (it arrives later)."""
    for folder in sorted(landing.glob(f"*/*/{month}")):
        target = aside / folder.relative_to(landing)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(folder), str(target))


def _timed_run(landing: Path, out: Path, url: str, key: Path, sampler: MemorySampler) -> dict[str, object]:
    from carebridge.runner import run_pipeline

    events: list[tuple[float, str]] = []

    def record(line: str) -> None:
        match = _STEP.search(line)
        if match:
            events.append((time.monotonic(), match.group(1)))

    start = time.monotonic()
    run_pipeline(landing, out, warehouse_url=url, key_file=key, reporter=record)
    end = time.monotonic()
    return {"seconds": round(end - start, 2), "cpu_seconds": round(sampler.cpu_between(start, end), 1),
            "peak_mib": round(sampler.peak_between(start, end) / 2**20), "load_average": _load(),
            "stages": _stage_table(events, start, sampler)}


def _landing(out: Path, persons: int, seed: int, fault_rate: float, reuse: bool) -> tuple[Path, Path]:
    """The generated landing area with the 13th month held back; with `reuse`, the one a previous
    benchmark generated in `out` with the same arguments (generating 100,000 people takes minutes)."""
    from carebridge.synthetic import generate

    landing, late, marker = out / "landing", out / "late", out / "generated.json"
    wanted = {"persons": persons, "seed": seed, "fault_rate": fault_rate, "months": list(MONTHS)}
    if reuse and marker.is_file() and json.loads(marker.read_text()) == wanted:
        _hold_back(late, MONTHS[1], landing)
        shutil.rmtree(out / "pipeline", ignore_errors=True)
    else:
        shutil.rmtree(out, ignore_errors=True)
        generate(persons, landing, out / "truth", seed=seed, fault_rate=fault_rate, months=MONTHS)
        marker.write_text(json.dumps(wanted))
    _hold_back(landing, MONTHS[1], late)
    return landing, late


def run_incremental_benchmark(persons: int, out: Path, seed: int = 42, fault_rate: float = 0.02,
                              engine: str = "duckdb", reuse_landing: bool = False) -> int:
    landing, late = _landing(out, persons, seed, fault_rate, reuse_landing)
    result_dir = out / "pipeline"
    url = default_warehouse_url(result_dir, engine)
    key_dir = Path(tempfile.mkdtemp(prefix="carebridge-bench-"))
    runs = []
    try:
        with MemorySampler() as sampler:
            runs.append(_timed_run(landing, result_dir, url, key_dir / "bench.key", sampler))
            runs.append(_timed_run(landing, result_dir, url, key_dir / "bench.key", sampler))
            _hold_back(late, MONTHS[1], landing)     # the 13th month arrives
            runs.append(_timed_run(landing, result_dir, url, key_dir / "bench.key", sampler))
    finally:
        shutil.rmtree(key_dir, ignore_errors=True)
    result = {"persons": persons, "fault_rate": fault_rate, "engine": engine, "machine": machine(),
              "runs": {name: run for name, run in zip(_RUNS, runs)},
              "share_of_full_build": {name: round(run["seconds"] / runs[0]["seconds"], 3)
                                      for name, run in zip(_RUNS[1:], runs[1:])},
              "cpu_share_of_full_build": {name: round(run["cpu_seconds"] / max(runs[0]["cpu_seconds"], 0.1), 3)
                                          for name, run in zip(_RUNS[1:], runs[1:])}}
    (out / "bench_incremental.json").write_text(json.dumps(result, indent=2) + "\n")
    print_report(result)
    return 0


def print_report(result: dict) -> None:
    m = result["machine"]
    print(f"\ncarebridge bench --incremental: {result['persons']:,} persons, 12 months built, then a 13th; "
          f"engine {result['engine']}")
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']} (may be shared)")
    runs = result["runs"]
    names = list(runs)
    stages = list(dict.fromkeys(s["stage"] for run in runs.values() for s in run["stages"]))
    print(f"{'stage (wall s / CPU s)':<28}" + "".join(f"{n:>26}" for n in names))
    for stage in stages:
        cells = []
        for run in runs.values():
            found = next((s for s in run["stages"] if s["stage"] == stage), None)
            cells.append(f"{found['seconds']:.2f} / {found['cpu_seconds']:.1f}" if found else "-")
        print(f"{stage:<28}" + "".join(f"{c:>26}" for c in cells))
    print(f"{'whole run':<28}" + "".join(f"{r['seconds']:.2f} / {r['cpu_seconds']:.1f}".rjust(26) for r in runs.values()))
    print(f"{'peak MiB':<28}" + "".join(f"{r['peak_mib']:>26}" for r in runs.values()))
    print(f"{'load average at the end':<28}" + "".join(f"{r['load_average']:>26}" for r in runs.values()))
    for name in names[1:]:
        print(f"{name}: {result['share_of_full_build'][name]:.1%} of the full build's wall time, "
              f"{result['cpu_share_of_full_build'][name]:.1%} of its CPU time")
