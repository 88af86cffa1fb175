"""End-to-end fixtures: generated systems run through the real Dagster jobs, built once per session.

Three builds, each made once across pytest-xdist workers (tests/conftest.py `shared_build`; the
workers build different ones side by side, `e2e_build`) and read-only afterwards:
- `clean_system`: no faults; the pipeline runs twice into the same output folder, with a digest
  of every warehouse table and FHIR file taken after each run (the re-run must change nothing).
- `faulty_system`: fault_rate 0.05, run through the `carebridge run` command in process, its exit
  code and output kept.
- `blocked_run`: a small system whose MHSDS header breaks an error-severity expectation; the
  `carebridge run` command must stop before anything downstream of staging runs.

Sizes are the smallest (with a seed) where every journey kind, service and question has
non-trivial answers; `test_e2e_clean.py` asserts that they do.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file (pytest runs in importlib mode)
import e2e_questions  # noqa: E402
import e2e_truth  # noqa: E402
from e2e_snapshot import file_digests, table_digests  # noqa: E402

CLEAN = {"persons": 1000, "seed": 11, "fault_rate": 0.0}
FAULTY = {"persons": 1000, "seed": 3, "fault_rate": 0.05}
BLOCKED = {"persons": 120, "seed": 5, "fault_rate": 0.0, "months": ("2025-04", "2025-05")}


@dataclass(frozen=True)
class System:
    """A generated landing area and its truth, the key file its runs use, and the run's output."""

    folder: Path
    landing: Path
    truth: Path
    key_file: Path
    out: Path

    @property
    def warehouse(self) -> Path:
        return self.out / "warehouse.duckdb"

    def read(self, name: str) -> str:
        return (self.folder / name).read_text(encoding="utf-8")

    def json(self, name: str) -> dict:
        return json.loads(self.read(name))


def _system(folder: Path) -> System:
    return System(folder=folder, landing=folder / "landing", truth=folder / "truth",
                  key_file=folder / "config" / "pseudonymisation.key", out=folder / "out")


def _generate(system: System, persons: int, seed: int, fault_rate: float, **kwargs) -> None:
    from carebridge.core.keys import load_or_create_key
    from carebridge.synthetic import generate

    generate(persons, system.landing, system.truth, seed=seed, fault_rate=fault_rate, **kwargs)
    load_or_create_key(system.key_file)


def _run(system: System, log: Path) -> None:
    """The real Dagster jobs in process (carebridge.runner), progress lines kept in `log`."""
    from carebridge.runner import run_pipeline

    with open(log, "w", encoding="utf-8") as fh:
        run_pipeline(system.landing, system.out, key_file=system.key_file, reporter=lambda line: print(line, file=fh))


def _cli(system: System, name: str, extra: tuple[str, ...] = ()) -> None:
    """`carebridge run` through carebridge.cli.main; exit code, stdout and stderr kept in the folder."""
    from carebridge.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["run", "--landing", str(system.landing), "--out", str(system.out),
                     "--key-file", str(system.key_file), *extra])
    (system.folder / f"{name}.json").write_text(json.dumps({"exit_code": code, "stdout": out.getvalue(),
                                                            "stderr": err.getvalue()}), encoding="utf-8")


def _snapshot(system: System, name: str) -> None:
    (system.folder / name).write_text(json.dumps({"tables": table_digests(system.warehouse),
                                                  "fhir": file_digests(system.out / "fhir")}), encoding="utf-8")


def _build_clean(folder: Path) -> None:
    system = _system(folder)
    _generate(system, **CLEAN)
    _run(system, folder / "run1.log")
    _snapshot(system, "run1.json")
    _run(system, folder / "run2.log")  # same job, same landing area, same output folder
    _snapshot(system, "run2.json")


def _build_faulty(folder: Path) -> None:
    system = _system(folder)
    _generate(system, **FAULTY)
    _cli(system, "cli")


def break_header(landing: Path, month: str) -> Path:
    """Make the trust's MHS000Header of `month` end before it starts: staging keeps the row (dates are
    valid dates), the error-severity staged expectation on the reporting period fails."""
    (path,) = landing.glob(f"mhsds/RZZ/{month}/*/MHS000Header.csv")
    header, row = path.read_text(encoding="utf-8").splitlines()
    values = row.split(",")
    columns = header.split(",")
    values[columns.index("ReportingPeriodEndDate")] = f"{int(month[:4]) - 1}{month[4:]}-01"
    path.write_text("\n".join([header, ",".join(values)]) + "\n", encoding="utf-8")
    return path


def _build_blocked(folder: Path) -> None:
    system = _system(folder)
    _generate(system, **BLOCKED)
    break_header(system.landing, BLOCKED["months"][0])
    _cli(system, "cli")


BUILDS: dict[str, Callable[[Path], None]] = {"e2e_clean": _build_clean, "e2e_faulty": _build_faulty,
                                            "e2e_blocked": _build_blocked}


@pytest.fixture(scope="session")
def e2e_build(shared_build, worker_id: str) -> Callable[[str], System]:
    """`e2e_build(name)`: the built system. Under xdist, a worker's first request builds every e2e
    system, starting at a different one on each worker, so the workers build side by side instead
    of one waiting on the other's build; without xdist only what is asked for is built."""
    def get(name: str) -> System:
        if worker_id.startswith("gw"):
            names = list(BUILDS)
            start = int(worker_id[2:]) % len(names)
            for other in names[start:] + names[:start]:
                shared_build(other, BUILDS[other])
        return _system(shared_build(name, BUILDS[name]))
    return get


@pytest.fixture(scope="session")
def clean_system(e2e_build) -> System:
    return e2e_build("e2e_clean")


@pytest.fixture(scope="session")
def faulty_system(e2e_build) -> System:
    return e2e_build("e2e_faulty")


@pytest.fixture(scope="session")
def blocked_run(e2e_build) -> System:
    return e2e_build("e2e_blocked")


# --- reading a built system ------------------------------------------------------------------

def read_only_engine(system: System) -> sa.Engine:
    from warehouse.db import make_engine

    return make_engine(f"duckdb:///{system.warehouse}?access_mode=read_only")


@contextlib.contextmanager
def _engine(system: System) -> Iterator[sa.Engine]:
    engine = read_only_engine(system)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def clean_engine(clean_system: System) -> Iterator[sa.Engine]:
    with _engine(clean_system) as engine:
        yield engine


@pytest.fixture(scope="session")
def faulty_engine(faulty_system: System) -> Iterator[sa.Engine]:
    with _engine(faulty_system) as engine:
        yield engine


def expectations(system: System, engine: sa.Engine) -> duckdb.DuckDBPyConnection:
    """The truth in DuckDB with every expected table (e2e_truth) and the services (e2e_questions)."""
    from carebridge.core.keys import load_key
    from carebridge.core.reference import codes, load_reference
    from warehouse.db import read_table
    from warehouse.catalog.staging import staged_table_name

    staged = {key: read_table(engine, "staging", staged_table_name(".".join(key)))
              for key in e2e_truth.PERSON_TABLES}
    links = read_table(engine, "linkage", "person_index")
    con = e2e_truth.load_truth(system.truth)
    e2e_truth.build_expectations(con, e2e_truth.staged_nhs_validity(staged), links, load_key(system.key_file),
                                 codes(), load_reference().lsoa_imd)
    e2e_questions.register_services(con, load_reference().services, codes()["team_type"])
    return con


@pytest.fixture(scope="session")
def clean_truth(clean_system: System, clean_engine: sa.Engine) -> Iterator[duckdb.DuckDBPyConnection]:
    con = expectations(clean_system, clean_engine)
    yield con
    con.close()


@pytest.fixture(scope="session")
def faulty_truth(faulty_system: System, faulty_engine: sa.Engine) -> Iterator[duckdb.DuckDBPyConnection]:
    con = expectations(faulty_system, faulty_engine)
    yield con
    con.close()


@pytest.fixture
def figure(record_property) -> Callable[[str, int], None]:
    """`figure(name, value)`: a figure for the end-of-session summary (no patient data, counts only)."""
    def record(name: str, value: int) -> None:
        record_property(f"figure: {name}", value)
    return record
