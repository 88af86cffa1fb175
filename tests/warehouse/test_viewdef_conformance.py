"""The SQL on FHIR v2 conformance suite, one case per suite test and engine.

Ids read `<engine>-<file>::<test title>`, so a regression names both. The compiled engines (DuckDB,
and PostgreSQL when CAREBRIDGE_TEST_PG_URL is set) must compile every applicable view: a
NotCompilable here is a failure, not a fallback.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from warehouse.engines.duckdb_views import load_resources, run_compiled
from warehouse.viewdef.reference import evaluate
from warehouse.viewdef.suite import check_test, libpq_url, run_suite, skip_reason, summary, to_report

SUITE = Path(os.environ.get("SOF_SUITE_DIR", "/work/shared/conformance/sql-on-fhir-v2/tests"))
PG_URL = os.environ.get("CAREBRIDGE_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not SUITE.is_dir(), reason=f"SQL on FHIR suite not found at {SUITE} (set SOF_SUITE_DIR)")
FILES = {path.name: json.loads(path.read_text()) for path in sorted(SUITE.glob("*.json"))}
CASES = [pytest.param(name, index, id=f"{name}::{test['title']}")
         for name, suite in FILES.items() for index, test in enumerate(suite["tests"])]
ENGINES = ["reference", "duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)]

# Tests this runner cannot pass yet: {(file, title): reason}. Empty: every applicable test passes.
KNOWN_FAILURES: dict[tuple[str, str], str] = {}


def _by_type(name: str) -> dict[str, list[dict]]:
    by_type: dict[str, list[dict]] = defaultdict(list)
    for resource in FILES[name]["resources"]:
        by_type[resource["resourceType"]].append(resource)
    return by_type


@pytest.fixture(scope="module")
def duckdb_runners():
    """One in-memory DuckDB per suite file, loaded on first use."""
    opened: dict[str, duckdb.DuckDBPyConnection] = {}

    def get(name: str):
        if name not in opened:
            opened[name] = duckdb.connect()
            load_resources(opened[name], _by_type(name))
        con = opened[name]
        return lambda view: run_compiled(con, view)
    yield get
    for con in opened.values():
        con.close()


@pytest.fixture(scope="module")
def postgresql_runners():
    """One PostgreSQL schema per suite file (unique to this process), loaded on first use, dropped at the end."""
    if not PG_URL:
        pytest.skip("CAREBRIDGE_TEST_PG_URL is not set: no PostgreSQL server to run the suite on")
    import psycopg

    from warehouse.engines.postgresql_views import load_resources_pg, run_compiled_pg

    con = psycopg.connect(libpq_url(PG_URL), autocommit=True)
    prefix = f"sof_{uuid.uuid4().hex[:8]}"
    schemas: dict[str, str] = {}

    def get(name: str):
        if name not in schemas:
            schemas[name] = f"{prefix}_{len(schemas)}"
            load_resources_pg(con, _by_type(name), schemas[name])
        schema = schemas[name]
        return lambda view: run_compiled_pg(con, view, schema)
    yield get
    for schema in schemas.values():
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    con.close()


@pytest.mark.parametrize("case_file, case_index", CASES)
@pytest.mark.parametrize("engine", ENGINES)
def test_conformance(engine, case_file, case_index, request):
    suite = FILES[case_file]
    test = suite["tests"][case_index]
    reason = skip_reason(suite, test)
    if reason:
        pytest.skip(reason)
    if (case_file, test["title"]) in KNOWN_FAILURES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[(case_file, test["title"])]))
    if engine == "reference":
        runner = lambda view: evaluate(view, suite["resources"])  # noqa: E731
    else:
        runner = request.getfixturevalue(f"{engine}_runners")(case_file)
    result = check_test(test, runner)
    assert result["passed"], result.get("reason")


def test_every_suite_file_is_collected():
    assert len(FILES) == 22
    assert len(CASES) == sum(len(s["tests"]) for s in FILES.values())


def test_run_suite_report_format_and_results():
    results = run_suite(SUITE)
    assert set(results) == set(FILES)
    entry = results["basic.json"]["tests"][0]
    assert entry == {"name": "basic attribute", "result": {"passed": True, "engine": "duckdb"}}
    flat = [t["result"] for f in results.values() for t in f["tests"]]
    assert len(flat) == len(CASES)
    assert all(r["passed"] for r in flat), [r for r in flat if not r["passed"]]
    assert {r["engine"] for r in flat} == {"duckdb"}
    assert summary(results) == {"passed": len(CASES), "failed": 0, "skipped": 0}
    report = to_report(results)
    assert report["basic.json"]["tests"][0] == {"name": "basic attribute", "result": {"passed": True}}


# Spark: the whole suite in one test (a JVM query costs ~100x a DuckDB one, so not one case per test).
# Every applicable test runs as compiled Spark SQL (warehouse.engines.spark_rows), none in the
# reference evaluator.
@pytest.mark.spark
@pytest.mark.on_spark
def test_conformance_on_spark(helpers, record_property):
    helpers.require_spark()
    results = run_suite(SUITE, engine="spark")
    failed = {(name, t["name"]): t["result"].get("reason", "") for name, entry in results.items()
              for t in entry["tests"] if not t["result"]["passed"] and not t["result"].get("skipped")}
    assert not failed, {k: v[:300] for k, v in failed.items()}
    flat = [t["result"] for entry in results.values() for t in entry["tests"] if not t["result"].get("skipped")]
    compiled = sum(1 for r in flat if r["passed"] and r.get("engine") == "spark")
    record_property("figure: SQL on FHIR suite on Spark (compiled / applicable)", f"{compiled} / {len(flat)}")
    assert compiled == len(flat)
