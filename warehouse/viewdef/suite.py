"""Runs the SQL on FHIR v2 conformance suite and writes the suite's report format.

`run_suite(directory, engine="duckdb")` returns
`{file: {"tests": [{"name", "result": {"passed", "reason"?, "engine"}}]}}`; `to_report` strips it
to the suite's own format (`{"passed", "reason"?}`). Engines: `duckdb` and `postgresql` run the
compiled SQL (a view the compiler cannot express, `NotCompilable`, falls back to the reference
evaluator and the result's `engine` says so); `reference` runs the Python evaluator only.
Rows are compared order-insensitively, numbers numerically, collections item by item.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from warehouse.viewdef.errors import NotCompilable, ViewDefinitionError
from warehouse.viewdef.reference import evaluate

__all__ = ["FHIR_VERSION", "ENGINES", "run_suite", "run_file", "check_test", "skip_reason", "compare_rows",
           "load_suite_file", "to_report", "summary", "libpq_url", "Runner"]

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


def _run_with_fallback(test: dict, engine: str, compiled: Runner, resources: list[dict]) -> dict:
    """The compiled path; the reference evaluator only when the view is not compilable."""
    try:
        return {**check_test(test, compiled), "engine": engine}
    except NotCompilable as error:
        result = check_test(test, lambda view: evaluate(view, resources))
        note = f"not compilable ({error}): ran the reference evaluator"
        result["reason"] = f"{result['reason']}; {note}" if "reason" in result else note
        return {**result, "engine": "reference"}


def _guarded(test: dict, engine: str, compiled: Runner, resources: list[dict]) -> dict:
    """One test; an engine failure (not a view error) fails this test only, with the error as reason."""
    try:
        return _run_with_fallback(test, engine, compiled, resources)
    except Exception as error:  # noqa: BLE001 - a report lists every test, whatever broke
        return {"passed": False, "reason": f"engine error: {type(error).__name__}: {error}", "engine": engine}


def _duckdb(resources: list[dict], _: str | None) -> AbstractContextManager[Runner]:
    from warehouse.engines.duckdb_views import scratch_runner

    return scratch_runner(_grouped(resources))


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (`postgresql+psycopg://...`) as the libpq URL psycopg connects with."""
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def _postgresql(resources: list[dict], pg_url: str | None) -> AbstractContextManager[Runner]:
    """A throwaway schema per suite file, dropped afterwards."""
    from warehouse.engines.postgresql_views import scratch_runner

    return scratch_runner(_grouped(resources), pg_url)


@contextmanager
def _spark(resources: list[dict], _: str | None) -> Iterator[Runner]:
    """A throwaway Spark warehouse folder per suite file, on the process's SparkSession."""
    import tempfile

    from carebridge.core.settings import SparkSettings
    from warehouse.engines.spark import SparkEngine, spark_session
    from warehouse.engines.spark_views import load_resources_spark, run_compiled_spark

    with tempfile.TemporaryDirectory(prefix="sof_suite_") as folder:
        settings = SparkSettings(warehouse_dir=Path(folder))
        engine = SparkEngine(spark_session(settings), settings)
        load_resources_spark(engine, _grouped(resources), "fhir")
        yield lambda view: run_compiled_spark(engine.session, view, "fhir")


_COMPILED = {"duckdb": _duckdb, "postgresql": _postgresql, "spark": _spark}
ENGINES = ("duckdb", "postgresql", "spark", "reference")


def _results(suite: dict, engine: str, compiled: Runner | None) -> list[dict]:
    entries = []
    for test in suite["tests"]:
        reason = skip_reason(suite, test)
        if reason is not None:
            result = {"passed": False, "skipped": True, "reason": reason}
        elif compiled is None:
            result = {**check_test(test, lambda view: evaluate(view, suite["resources"])), "engine": "reference"}
        else:
            result = _guarded(test, engine, compiled, suite["resources"])
        entries.append({"name": test["title"], "result": result})
    return entries


def run_file(path: Path, engine: str = "duckdb", pg_url: str | None = None) -> dict:
    """Report entry of one suite file: `{"tests": [...]}`."""
    suite = load_suite_file(path)
    if engine == "reference":
        return {"tests": _results(suite, engine, None)}
    if engine not in _COMPILED:
        raise ValueError(f"unknown engine {engine!r} (have: {', '.join(ENGINES)})")
    with _COMPILED[engine](suite["resources"], pg_url) as compiled:
        return {"tests": _results(suite, engine, compiled)}


def run_suite(directory: Path, engine: str = "duckdb", pg_url: str | None = None) -> dict:
    """Run every `*.json` suite file in `directory`; returns the suite report keyed by file name."""
    return {path.name: run_file(path, engine, pg_url) for path in sorted(Path(directory).glob("*.json"))}


def to_report(results: dict) -> dict:
    """The suite's own report format: each result reduced to `passed` and, if any, `reason`."""
    def strip(result: dict) -> dict:
        return {k: v for k, v in result.items() if k in ("passed", "reason")}
    return {name: {"tests": [{"name": t["name"], "result": strip(t["result"])} for t in entry["tests"]]}
            for name, entry in results.items()}


def summary(results: dict) -> dict[str, int]:
    """Counts of passed, failed and skipped tests in a `run_suite` result."""
    flat = [t["result"] for entry in results.values() for t in entry["tests"]]
    skipped = sum(1 for r in flat if r.get("skipped"))
    passed = sum(1 for r in flat if r["passed"])
    return {"passed": passed, "failed": len(flat) - passed - skipped, "skipped": skipped}
