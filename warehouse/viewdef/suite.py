"""Runs the SQL on FHIR v2 conformance suite and writes the suite's report format.

`run_suite(directory)` returns `{file: {"tests": [{"name", "result": {"passed", "reason"?, "engine"}}]}}`.
Each test runs on the compiled DuckDB path; only a view the compiler cannot express
(`NotCompilable`) falls back to the reference evaluator, and the result says so (`engine`).
Rows are compared order-insensitively, numbers numerically, collections item by item.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from warehouse.viewdef.errors import NotCompilable, ViewDefinitionError
from warehouse.viewdef.loading import load_resources
from warehouse.viewdef.reference import evaluate
from warehouse.viewdef.sql_view import run_compiled

__all__ = ["FHIR_VERSION", "run_suite", "run_file", "check_test", "skip_reason", "compare_rows",
           "load_suite_file", "Runner"]

FHIR_VERSION = "4.0.1"

Runner = Callable[[dict], pa.Table]


def load_suite_file(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def skip_reason(suite: dict, test: dict) -> str | None:
    """Why a test does not apply to FHIR 4.0.1, or None if it does."""
    versions = test.get("fhirVersion", suite.get("fhirVersion"))
    if versions and FHIR_VERSION not in versions:
        return f"fhirVersion {versions} does not include {FHIR_VERSION}"
    return None


def _cell(value: Any) -> Any:
    """A hashable canonical form: numbers by value (not int vs float), booleans apart from numbers."""
    if isinstance(value, bool) or value is None:
        return ("literal", value)
    if isinstance(value, (int, float)):
        return ("number", round(float(value), 9) if math.isfinite(float(value)) else str(value))
    if isinstance(value, list):
        return ("list", tuple(_cell(v) for v in value))
    if isinstance(value, dict):
        return ("object", json.dumps(value, sort_keys=True))
    return ("text", value)


def compare_rows(actual: list[dict], expected: list[dict], ordered: bool = False) -> str | None:
    """None when the rows match, else a short reason."""
    columns = sorted({c for row in expected for c in row} | {c for row in actual for c in row})
    canon = lambda rows: [tuple(_cell(row.get(c)) for c in columns) for row in rows]  # noqa: E731
    got, want = canon(actual), canon(expected)
    if (got == want) if ordered else (Counter(got) == Counter(want)):
        return None
    return f"rows differ: expected {expected!r}, got {actual!r}"


def _check_table(test: dict, table: pa.Table) -> str | None:
    if test.get("expectError"):
        return "expected an error, the view ran"
    if "expectColumns" in test and table.column_names != test["expectColumns"]:
        return f"columns {table.column_names} != expected {test['expectColumns']}"
    if "expectCount" in test and table.num_rows != test["expectCount"]:
        return f"{table.num_rows} rows != expected {test['expectCount']}"
    if "expect" in test:
        expected_columns = {c for row in test["expect"] for c in row}
        if test["expect"] and expected_columns != set(table.column_names):
            return f"columns {table.column_names} != expected {sorted(expected_columns)}"
        return compare_rows(table.to_pylist(), test["expect"], bool(test.get("ordered")))
    return None


def check_test(test: dict, runner: Runner) -> dict:
    """Run one test's view with `runner` and judge it: `{"passed": bool, "reason"?: str}`."""
    try:
        table = runner(test["view"])
    except ViewDefinitionError as error:
        if test.get("expectError"):
            return {"passed": True}
        return {"passed": False, "reason": f"unexpected error: {error}"}
    reason = _check_table(test, table)
    return {"passed": True} if reason is None else {"passed": False, "reason": reason}


def _grouped(resources: list[dict]) -> dict[str, list[dict]]:
    by_type: dict[str, list[dict]] = defaultdict(list)
    for resource in resources:
        by_type[resource.get("resourceType", "")].append(resource)
    return dict(by_type)


def _run_with_fallback(test: dict, con: duckdb.DuckDBPyConnection, resources: list[dict]) -> dict:
    """The compiled path; the reference evaluator only when the view is not compilable."""
    try:
        return {**check_test(test, lambda view: run_compiled(con, view)), "engine": "duckdb"}
    except NotCompilable as error:
        result = check_test(test, lambda view: evaluate(view, resources))
        note = f"not compilable ({error}): ran the reference evaluator"
        result["reason"] = f"{result['reason']}; {note}" if "reason" in result else note
        return {**result, "engine": "reference"}


def run_file(path: Path) -> dict:
    """Report entry of one suite file: `{"tests": [...]}`."""
    suite = load_suite_file(path)
    con = duckdb.connect()
    try:
        load_resources(con, _grouped(suite["resources"]))
        entries = []
        for test in suite["tests"]:
            reason = skip_reason(suite, test)
            if reason is not None:
                result = {"passed": False, "skipped": True, "reason": reason}
            else:
                result = _run_with_fallback(test, con, suite["resources"])
            entries.append({"name": test["title"], "result": result})
    finally:
        con.close()
    return {"tests": entries}


def run_suite(directory: Path) -> dict:
    """Run every `*.json` suite file in `directory`; returns the suite report keyed by file name."""
    return {path.name: run_file(path) for path in sorted(Path(directory).glob("*.json"))}
