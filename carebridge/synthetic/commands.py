"""`carebridge generate` and `carebridge demo`, registered through the `carebridge.commands` entry point."""

from __future__ import annotations

import argparse
from pathlib import Path

from carebridge.cli import add_warehouse_options, run_and_report

__all__ = ["register", "DEFAULT_MONTHS"]

DEFAULT_MONTHS = "2025-04..2026-03"


def _months(value: str) -> tuple[str, str]:
    start, sep, end = value.partition("..")
    if not sep or len(start) != 7 or len(end) != 7 or start > end:
        raise argparse.ArgumentTypeError("months must look like YYYY-MM..YYYY-MM")
    return start, end


def _cmd_generate(args: argparse.Namespace) -> int:
    from carebridge.synthetic import default_truth_dir, generate

    truth = args.truth or default_truth_dir(args.landing)
    summary = generate(args.persons, args.landing, truth, seed=args.seed, months=args.months, fault_rate=args.fault_rate)
    print(f"wrote a synthetic system of {args.persons:,} people to {args.landing} (ground truth in {truth})")
    print(summary)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from carebridge.synthetic import generate

    landing, truth = args.out / "landing", args.out / "truth"
    print(f"generating a synthetic integrated care system of {args.persons:,} people into {landing} ...")
    generate(args.persons, landing, truth, seed=args.seed, months=args.months, fault_rate=args.fault_rate)
    return run_and_report(landing, args.out, args.warehouse, args.key_file, args.strict)


def register(subparsers: argparse._SubParsersAction) -> None:
    gen = subparsers.add_parser("generate", help="write a synthetic integrated care system to a landing area")
    gen.add_argument("--persons", type=int, required=True)
    gen.add_argument("--landing", type=Path, required=True)
    gen.add_argument("--truth", type=Path, default=None, help="ground-truth folder (default: beside the landing area)")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--months", type=_months, default=_months(DEFAULT_MONTHS))
    gen.add_argument("--fault-rate", type=float, default=0.0)
    gen.set_defaults(func=_cmd_generate)

    demo = subparsers.add_parser("demo", help="generate a synthetic system and run everything on it")
    demo.add_argument("--persons", type=int, default=5000)
    demo.add_argument("--out", type=Path, default=Path("out"))
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--months", type=_months, default=_months(DEFAULT_MONTHS))
    demo.add_argument("--fault-rate", type=float, default=0.02)
    add_warehouse_options(demo)
    demo.set_defaults(func=_cmd_demo)
