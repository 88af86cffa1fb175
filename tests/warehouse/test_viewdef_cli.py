"""`carebridge views test-suite`: runs a directory of SQL on FHIR test files on the chosen engine and
writes the suite's own report format; exits 1 when a test fails."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from carebridge.cli import main

SUITE = Path(os.environ.get("SOF_SUITE_DIR", "/work/shared/conformance/sql-on-fhir-v2/tests"))
PG_URL = os.environ.get("CAREBRIDGE_TEST_PG_URL")
ENGINES = ["duckdb", "reference", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture
def two_files(tmp_path) -> Path:
    if not SUITE.is_dir():
        pytest.skip(f"SQL on FHIR suite not found at {SUITE}")
    folder = tmp_path / "suite"
    folder.mkdir()
    for name in ("basic.json", "fn_reference_keys.json"):
        shutil.copy(SUITE / name, folder / name)
    return folder


@pytest.mark.parametrize("engine", ENGINES)
def test_test_suite_writes_the_suite_report_format(engine, two_files, tmp_path, capsys):
    if engine == "postgresql" and not PG_URL:
        pytest.skip("CAREBRIDGE_TEST_PG_URL is not set: no PostgreSQL server")
    report_path = tmp_path / "out" / "report.json"
    args = ["views", "test-suite", str(two_files), "--report", str(report_path), "--engine", engine]
    code = main(args + (["--database-url", PG_URL] if engine == "postgresql" else []))
    assert code == 0
    report = json.loads(report_path.read_text())
    suites = {name: json.loads((two_files / name).read_text()) for name in ("basic.json", "fn_reference_keys.json")}
    assert set(report) == set(suites)
    for name, suite in suites.items():
        assert [t["name"] for t in report[name]["tests"]] == [t["title"] for t in suite["tests"]]
        assert all(t["result"] == {"passed": True} for t in report[name]["tests"])
    assert f"{engine}: " in capsys.readouterr().out


def test_a_failing_test_is_reported_with_its_reason_and_exit_code_1(two_files, tmp_path, capsys):
    broken = json.loads((two_files / "basic.json").read_text())
    broken["tests"][0]["expect"] = [{"id": "nobody"}]
    (two_files / "basic.json").write_text(json.dumps(broken))
    report_path = tmp_path / "report.json"
    assert main(["views", "test-suite", str(two_files), "--report", str(report_path)]) == 1
    first = json.loads(report_path.read_text())["basic.json"]["tests"][0]
    assert first["result"]["passed"] is False and "rows differ" in first["result"]["reason"]
    assert "FAILED basic.json :: basic attribute" in capsys.readouterr().out


def test_postgresql_without_a_url_is_a_usage_error(two_files, tmp_path, monkeypatch):
    monkeypatch.delenv("CAREBRIDGE_PG_URL", raising=False)
    assert main(["views", "test-suite", str(two_files), "--report", str(tmp_path / "r.json"),
                 "--engine", "postgresql", "--database-url", ""]) == 2
    assert not (tmp_path / "r.json").exists()
