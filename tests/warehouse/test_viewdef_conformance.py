"""The SQL on FHIR v2 conformance suite, one case per suite test and engine.

Ids read `<engine>-<file>::<test title>`, so a regression names both. The DuckDB engine must
compile every applicable view: a NotCompilable here is a failure, not a fallback.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from warehouse.viewdef.loading import load_resources
from warehouse.viewdef.reference import evaluate
from warehouse.viewdef.sql_view import run_compiled
from warehouse.viewdef.suite import check_test, run_suite, skip_reason

SUITE = Path(os.environ.get("SOF_SUITE_DIR", "/work/shared/conformance/sql-on-fhir-v2/tests"))
pytestmark = pytest.mark.skipif(not SUITE.is_dir(), reason=f"SQL on FHIR suite not found at {SUITE} (set SOF_SUITE_DIR)")
FILES = {path.name: json.loads(path.read_text()) for path in sorted(SUITE.glob("*.json"))}
CASES = [pytest.param(name, index, id=f"{name}::{test['title']}")
         for name, suite in FILES.items() for index, test in enumerate(suite["tests"])]

# Tests this runner cannot pass yet: {(file, title): reason}. Empty: every applicable test passes.
KNOWN_FAILURES: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module")
def connections():
    """One in-memory DuckDB per suite file, loaded on first use."""
    opened: dict[str, duckdb.DuckDBPyConnection] = {}

    def get(name: str) -> duckdb.DuckDBPyConnection:
        if name not in opened:
            by_type: dict[str, list[dict]] = defaultdict(list)
            for resource in FILES[name]["resources"]:
                by_type[resource["resourceType"]].append(resource)
            opened[name] = duckdb.connect()
            load_resources(opened[name], by_type)
        return opened[name]
    yield get
    for con in opened.values():
        con.close()


@pytest.mark.parametrize("case_file, case_index", CASES)
@pytest.mark.parametrize("engine", ["reference", "duckdb"])
def test_conformance(engine, case_file, case_index, connections, request):
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
        con = connections(case_file)
        runner = lambda view: run_compiled(con, view)  # noqa: E731
    result = check_test(test, runner)
    assert result["passed"], result.get("reason")


def test_every_suite_file_is_collected():
    assert len(FILES) == 22
    assert len(CASES) == sum(len(s["tests"]) for s in FILES.values())


def test_run_suite_report_format_and_results():
    report = run_suite(SUITE)
    assert set(report) == set(FILES)
    entry = report["basic.json"]["tests"][0]
    assert entry == {"name": "basic attribute", "result": {"passed": True, "engine": "duckdb"}}
    results = [t["result"] for f in report.values() for t in f["tests"]]
    assert len(results) == len(CASES)
    assert all(r["passed"] for r in results), [r for r in results if not r["passed"]]
    assert {r["engine"] for r in results} == {"duckdb"}
