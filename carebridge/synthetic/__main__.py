"""Generate the synthetic integrated care system.

    python -m carebridge.synthetic --persons N --landing DIR [--truth DIR] [--seed S] [--months 2025-04..2026-03]
                        [--fault-rate R] [--demographic-faults all=0.05,name_swap=0.1]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .generate import default_truth_dir, generate, parse_months

__all__ = ["main", "parse_rates"]


def parse_rates(text: str) -> dict[str, float]:
    """"all=0.05,twin=0.01" -> {"all": 0.05, "twin": 0.01} (later entries override earlier ones)."""
    rates = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        kind, _, rate = item.partition("=")
        rates[kind.strip()] = float(rate)
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m carebridge.synthetic", description=__doc__)
    parser.add_argument("--persons", type=int, required=True)
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--truth", type=Path, help="default: a folder `truth` beside the landing area")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--months", default="2025-04..2026-03", help="first..last month, YYYY-MM..YYYY-MM")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--demographic-faults", default="",
                        help="kind=rate,... of faults.yaml `demographic` kinds (`all=R` sets every kind)")
    args = parser.parse_args(argv)
    summary = generate(args.persons, args.landing, args.truth or default_truth_dir(args.landing), seed=args.seed,
                       months=parse_months(args.months), fault_rate=args.fault_rate,
                       demographic_faults=parse_rates(args.demographic_faults))
    print(f"{summary.persons} persons: {summary.files_written} files in {summary.deliveries} deliveries, "
          f"{sum(summary.faults.values())} faults")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
