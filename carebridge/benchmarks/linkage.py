"""Linkage time, peak memory and quality at scale.

`run(persons, fault_rate) -> dict` generates a synthetic system with that fault rate and stages it
(not timed), then links its person records in a fresh process: `linkage.link_records` with the
shipped Splink model (training, scoring, resolution, stable ids). Reported: records, pairs
compared, wall seconds (and the Splink part of them), the linking process's peak resident memory
(VmHWM: imports and input included), pairwise precision, recall and F1 over every pair, split into
NHS-number pairs, probabilistic pairs, per fault kind and the review queue (`linkage.quality`),
review counts, and the load average around the run (this machine is shared: other work slows the
figures down). `--demographic R` sets every demographic fault kind (synthetic faults.yaml
`demographic`: transposed birth dates, swapped names, twins, valid-but-wrong NHS numbers ...) to R.

    python -m carebridge.benchmarks.linkage --persons 100000 --fault-rate 0.05 --demographic 0.05 [--seed 42] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["run", "peak_rss_bytes"]


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _prepare(persons: int, fault_rate: float, seed: int, work: str, demographic: float = 0.0) -> None:
    """Generate and stage (own process, not timed); keep the linkage records and the truth's records."""
    import pyarrow.parquet as pq

    from carebridge.linkage import linkage_records
    from carebridge.staging import stage_landing
    from carebridge.synthetic import generate

    folder = Path(work)
    generate(persons, folder / "landing", folder / "truth", seed=seed, fault_rate=fault_rate,
             demographic_faults={"all": demographic})
    records = linkage_records(stage_landing(folder / "landing").tables)
    pq.write_table(records, folder / "records.parquet")
    shutil.rmtree(folder / "landing")


def _link(work: str) -> None:
    """Link the prepared records (own process: its peak memory is the linkage's); timings to JSON."""
    import pyarrow.parquet as pq

    from carebridge.linkage import SplinkLinker, link_records

    folder = Path(work)
    records = pq.read_table(folder / "records.parquet")
    splink = SplinkLinker()
    timings: dict[str, float] = {}

    def timed_linker(table):
        start = time.perf_counter()
        scored = splink(table)
        timings["scoring_seconds"] = time.perf_counter() - start
        return scored

    start = time.perf_counter()
    index = link_records(records, linker=timed_linker, run="benchmark")
    timings["seconds"] = time.perf_counter() - start
    pq.write_table(index.links, folder / "links.parquet")
    pq.write_table(index.reviews, folder / "reviews.parquet")
    (folder / "parameters.json").write_text(json.dumps(index.scored.parameters, default=str), encoding="utf-8")
    result = {**timings, "peak_rss_bytes": peak_rss_bytes(), "summary": index.summary(), "bands": index.bands,
              "training": index.scored.training}
    (folder / "link.json").write_text(json.dumps(result, default=str), encoding="utf-8")


def _in_process(step: str, work: Path, *args: str) -> None:
    """Run one step in a fresh interpreter (its memory, and nothing else's, is what it measures)."""
    command = [sys.executable, "-m", "carebridge.benchmarks.linkage", "--step", step, "--work", str(work), *args]
    subprocess.run(command, check=True)


def _quality(folder: Path) -> dict[str, Any]:
    import duckdb
    import pyarrow.parquet as pq

    from carebridge.linkage.quality import quality_report

    truth = duckdb.sql(f"SELECT source, provider_ods, local_id, person_id "
                       f"FROM read_csv('{folder / 'truth' / 'records.csv'}', all_varchar = true)").to_arrow_table()
    faults = duckdb.sql(f"SELECT kind, source, provider_ods, local_id "
                        f"FROM read_csv('{folder / 'truth' / 'faults.csv'}', all_varchar = true) "
                        f"WHERE local_id IS NOT NULL").to_arrow_table()
    trusted = pq.read_table(folder / "records.parquet", columns=["source", "provider_ods", "local_patient_id", "trusted"])
    return quality_report(pq.read_table(folder / "links.parquet"), truth, trusted, faults=faults,
                          reviews=pq.read_table(folder / "reviews.parquet"))


def run(persons: int, fault_rate: float = 0.05, seed: int = 42, keep: Path | None = None,
        demographic: float = 0.0) -> dict[str, Any]:
    """Generate, stage (untimed), link (timed, own process) and measure against the truth."""
    folder = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="cb_linkage_bench_"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        _in_process("prepare", folder, "--persons", str(persons), "--fault-rate", str(fault_rate), "--seed", str(seed),
                    "--demographic", str(demographic))
        load_before = os.getloadavg()
        _in_process("link", folder)
        load_after = os.getloadavg()
        linked = json.loads((folder / "link.json").read_text(encoding="utf-8"))
        quality = _quality(folder)
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    summary = linked["summary"]
    return {
        "persons": persons, "fault_rate": fault_rate, "demographic_fault_rate": demographic, "seed": seed,
        "records": summary["records"], "untrusted_records": quality["untrusted_records"],
        "pairs_compared": summary["pairs_compared"],
        "seconds": round(linked["seconds"], 1), "scoring_seconds": round(linked["scoring_seconds"], 1),
        "peak_rss_gib": round(linked["peak_rss_bytes"] / 2**30, 2),
        "precision": quality["all"]["precision"], "recall": quality["all"]["recall"], "f1": quality["all"]["f1"],
        "true_pairs": quality["all"]["true_pairs"], "predicted_pairs": quality["all"]["predicted_pairs"],
        "quality": quality,
        "records_linked_probabilistically": summary["records_linked_probabilistically"],
        "reviews": {k.removeprefix("reviews_"): v for k, v in summary.items() if k.startswith("reviews_")},
        "matches_by_band": linked["bands"],
        "load_average_1min": [round(load_before[0], 1), round(load_after[0], 1)], "cores": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--fault-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--demographic", type=float, default=0.0, help="rate of every demographic fault kind")
    parser.add_argument("--keep", type=Path, default=None, help="keep the work folder here")
    parser.add_argument("--step", choices=["prepare", "link"], help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step == "prepare":
        _prepare(args.persons, args.fault_rate, args.seed, args.work, args.demographic)
    elif args.step == "link":
        _link(args.work)
    else:
        print(json.dumps(run(args.persons, args.fault_rate, args.seed, args.keep, args.demographic), indent=2))


if __name__ == "__main__":
    main()
