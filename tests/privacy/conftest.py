"""The privacy tests' second run: the generated system with an opt-out list and without type 1 flags.

`duckdb_run` (tests/conftest.py) is the system as generated: some people carry a GP type 1
objection, nobody has opted out. `opt_out_run` is the same landing area with two changes: an
opt-out file naming some people who were referred to a service (some numbers written 3-3-4), and
every GP type 1 flag cleared. Comparing the two proves both halves of each rule: the people they
name leave analytics, and the direct-care FHIR output does not change at all.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

OPTED_OUT = 8  # people put on the opt-out list


@dataclass(frozen=True)
class OptOutRun:
    run: object  # conftest.PipelineRun
    opted_out_nhs_numbers: tuple[str, ...] = field(repr=False)  # never in test output


def _truth(truth: Path, name: str) -> list[dict[str, str]]:
    with open(truth / f"{name}.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def choose_opted_out(truth: Path) -> list[str]:
    """NHS numbers of the first people (by truth id) without a type 1 objection whom the trust or
    Talking Therapies received (their records always carry the NHS number, so they link to the GP's)."""
    received = {r["person_id"] for r in _truth(truth, "referrals")
                if r["status"] != "not_received" and r["source"] in ("mhsds", "talking_therapies")}
    people = sorted((p["person_id"], p["nhs_number"]) for p in _truth(truth, "persons")
                    if p["person_id"] in received and p["type1_objection"] == "false")
    return [nhs for _, nhs in people[:OPTED_OUT]]


def _write_opt_outs(landing: Path, numbers: list[str]) -> None:
    (landing / "reference").mkdir(exist_ok=True)
    # Every other number as written on paper (943 476 5919): matching must ignore the spaces.
    lines = [n if i % 2 else f"{n[:3]} {n[3:6]} {n[6:]}" for i, n in enumerate(numbers)]
    (landing / "reference" / "opt_outs.csv").write_text("nhs_number\n" + "\n".join(lines) + "\n", encoding="utf-8")


def _clear_type1_flags(landing: Path) -> int:
    """Set type1_objection to false in every GP patient file (unquoted UTF-8 CSV); returns files changed."""
    changed = 0
    for path in sorted(landing.glob("gp/*/*/*/patient.csv")):
        header, *rows = path.read_text(encoding="utf-8").splitlines()
        column = header.split(",").index("type1_objection")
        cleared = []
        for row in rows:
            cells = row.split(",")
            cells[column] = "false" if cells[column] == "true" else cells[column]
            cleared.append(",".join(cells))
        if cleared != rows:
            path.write_text("\n".join([header, *cleared]) + "\n", encoding="utf-8")
            changed += 1
    return changed


@pytest.fixture(scope="session")
def opt_out_run(shared_build, generated_system, helpers) -> OptOutRun:
    system = generated_system
    numbers = choose_opted_out(system.truth)

    def build(folder: Path) -> None:
        landing = folder / "landing"
        shutil.copytree(system.landing, landing)
        _write_opt_outs(landing, numbers)
        assert _clear_type1_flags(landing) > 0, "the generated system should hold some type 1 objections"
        helpers.run_logged(landing, folder / "out", system.key_file)

    folder = shared_build("opt_out_run", build)
    run = helpers.PipelineRun(landing=folder / "landing", out=folder / "out",
                              warehouse_url=f"duckdb:///{folder / 'out' / 'warehouse.duckdb'}",
                              key_file=system.key_file, log=folder / "out.log")
    return OptOutRun(run=run, opted_out_nhs_numbers=tuple(numbers))


@pytest.fixture(scope="session")
def sized_run(shared_build, helpers):
    """`sized_run(persons)`: a generated system of that size (seed 7, no faults) run through the
    pipeline on DuckDB, built once per session (the differencing attacker's larger releases)."""
    from carebridge.core.keys import load_or_create_key
    from carebridge.synthetic import generate

    def make(persons: int):
        def build(folder: Path) -> None:
            generate(persons, folder / "landing", folder / "truth", seed=7, fault_rate=0.0)
            key_file = folder / "config" / "pseudonymisation.key"
            load_or_create_key(key_file)
            helpers.run_logged(folder / "landing", folder / "out", key_file)

        folder = shared_build(f"system_{persons}", build)
        return helpers.PipelineRun(landing=folder / "landing", out=folder / "out",
                                   warehouse_url=f"duckdb:///{folder / 'out' / 'warehouse.duckdb'}",
                                   key_file=folder / "config" / "pseudonymisation.key", log=folder / "out.log")
    return make
