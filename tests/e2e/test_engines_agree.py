"""Same answers on every engine (issue 12's one engine interface, issue 13's "same answers
everywhere"): one generated system with every fault kind runs through the whole pipeline
(`carebridge.runner`, the real Dagster jobs) on DuckDB, and, from one fixture, on every other
backend of `warehouse.engines` (PostgreSQL; Spark local[2]). Each gives DuckDB's `analytics` and
`published` tables, its FHIR NDJSON lines (once ordered) and its bundles, byte for byte."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from warehouse.engines import BACKENDS

pytestmark = pytest.mark.e2e

# 300 people in CI (a JVM run fits its time); CAREBRIDGE_TEST_PARITY_PERSONS=2000 for a few thousand
PERSONS = int(os.environ.get("CAREBRIDGE_TEST_PARITY_PERSONS", "300"))
FAULT_RATE = 0.05
# every backend but the reference, Spark's with the `spark` mark (-m "not spark" leaves it out)
OTHER_ENGINES = [pytest.param(e, marks=pytest.mark.spark) if e == "spark" else e for e in BACKENDS if e != "duckdb"]


@dataclass(frozen=True)
class Run:
    out: Path
    url: str


def _value(v):
    """One value the same way on every engine: numbers as floats to 9 significant digits."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float, Decimal)):
        f = float(v)
        return str(f) if not math.isfinite(f) else float(f"{f:.9g}")
    if isinstance(v, (date, datetime)):
        return v.isoformat()
    return v


def _contents(url: str, schema: str) -> dict[str, tuple[list[str], list[tuple]]]:
    from warehouse.db import make_engine, query, table_names

    engine = make_engine(url)
    try:
        found = {}
        for name in table_names(engine, schema):
            table = query(engine, f"SELECT * FROM {schema}.{name}")
            rows = [tuple(_value(v) for v in row.values()) for row in table.to_pylist()]
            found[name] = (table.column_names, sorted(rows, key=lambda r: tuple((v is None, str(v)) for v in r)))
        return found
    finally:
        engine.dispose()


def _ndjson_lines(out: Path) -> dict[str, list[bytes]]:
    from fhir_mapping.ndjson import manifest_parts

    folder = out / "fhir" / "ndjson"
    return {rtype: sorted(line for path in paths for line in path.read_bytes().splitlines())
            for rtype, (paths, _) in manifest_parts(folder).items()}


def _bundles(out: Path) -> dict[str, bytes]:
    folder = out / "fhir" / "bundles"
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.json"))}


def _run(landing: Path, out: Path, url: str, key_file: Path) -> Run:
    from carebridge.runner import run_pipeline

    run_pipeline(landing, out, warehouse_url=url, key_file=key_file,
                 reporter=lambda line: None)    # raises if a step or a blocking check fails
    return Run(out, url)


@pytest.fixture(scope="module")
def system(shared_build) -> Path:
    from carebridge.synthetic import generate

    folder = shared_build(f"engines_agree_{PERSONS}_{FAULT_RATE}", lambda f: generate(
        PERSONS, f / "landing", f / "truth", seed=5, fault_rate=FAULT_RATE, demographic_faults={"all": FAULT_RATE}))
    return folder / "landing"


@pytest.fixture(scope="module")
def on_duckdb(system, generated_system, shared_build) -> Run:
    """The reference: the same system on the embedded default, once per session across workers."""
    folder = shared_build(f"engines_agree_duckdb_{PERSONS}",
                          lambda f: _run(system, f / "out", f"duckdb:///{f / 'out' / 'warehouse.duckdb'}",
                                         generated_system.key_file))
    return Run(folder / "out", f"duckdb:///{folder / 'out' / 'warehouse.duckdb'}")


@pytest.fixture(scope="module", params=OTHER_ENGINES)
def on_engine(request, system, generated_system, helpers, tmp_path_factory) -> Run:
    """The same system on each other backend, from this one fixture (skipped, saying why, where
    the backend is absent)."""
    out = tmp_path_factory.mktemp(request.param) / "out"
    if request.param == "spark":
        helpers.require_spark()
        url = f"spark+local://{out / 'spark-warehouse'}"
    elif request.param == "postgresql":
        url = helpers.create_pg_database("agree")
    else:
        raise AssertionError(f"no warehouse URL for the new backend {request.param!r}: add it here")
    return _run(system, out, url, generated_system.key_file)


def test_every_engine_gives_duckdb_s_fhir(on_engine, on_duckdb):
    assert _ndjson_lines(on_engine.out) == _ndjson_lines(on_duckdb.out)
    assert _bundles(on_engine.out) == _bundles(on_duckdb.out)


@pytest.mark.parametrize("schema", ["analytics", "published"])
def test_every_engine_gives_duckdb_s_tables(on_engine, on_duckdb, schema):
    expected, actual = _contents(on_duckdb.url, schema), _contents(on_engine.url, schema)
    assert sorted(actual) == sorted(expected)
    assert any(rows for _, rows in expected.values()), f"{schema} is empty: the comparison would prove nothing"
    for name in expected:
        same = actual[name] == expected[name]    # not `assert a == b`: a failure must not print rows
        assert same, f"{schema}.{name} differs from DuckDB's"
