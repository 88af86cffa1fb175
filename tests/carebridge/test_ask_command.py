"""`carebridge ask`: the answer as a table, CSV or JSON, from a warehouse opened read-only; a missing,
empty or locked warehouse is said in one line and nothing is created."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys

import pytest

from carebridge.cli import main
from warehouse.db import ensure_schemas, execute, make_engine
from warehouse.questions import ask, list_questions


def test_ask_lists_the_ten_questions(capsys):
    assert main(["ask", "list"]) == 0
    printed = capsys.readouterr().out
    assert all(q.name in printed for q in list_questions()) and len(list_questions()) == 10


def test_ask_prints_an_answer_as_a_table(duckdb_run, capsys):
    assert main(["ask", "q03", "--warehouse", duckdb_run.warehouse_url]) == 0
    printed = capsys.readouterr().out
    assert "service_type_code" in printed and "median_days" in printed
    assert "Talking Therapies" in printed


def test_ask_an_unknown_question_is_a_clear_error(capsys):
    assert main(["ask", "q99"]) == 2
    assert "no question named 'q99'" in capsys.readouterr().err


def _expected(url: str, name: str) -> list[dict]:
    engine = make_engine(url, read_only=True)
    try:
        return ask(engine, name).to_pylist()
    finally:
        engine.dispose()


def test_ask_writes_csv_and_json_with_every_row(duckdb_run, tmp_path, capsys):
    expected = _expected(duckdb_run.warehouse_url, "q09")
    assert len(expected) > 40  # more than a table prints
    assert main(["ask", "q09", "--warehouse", duckdb_run.warehouse_url, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == len(expected) and list(rows[0]) == list(expected[0])
    assert [r["group_value"] for r in rows] == [str(e["group_value"]) for e in expected]

    target = tmp_path / "q09.json"
    assert main(["ask", "q09", "--warehouse", duckdb_run.warehouse_url, "--format", "json", "--output", str(target)]) == 0
    assert f"{len(expected)} rows written to {target}" in capsys.readouterr().out
    written = json.loads(target.read_text(encoding="utf-8"))
    assert [r["appointments"] for r in written] == [e["appointments"] for e in expected]


def test_questions_answer_in_aggregates_never_person_keys(duckdb_run):
    engine = make_engine(duckdb_run.warehouse_url, read_only=True)
    try:
        for question in list_questions():
            columns = ask(engine, question.name).column_names
            assert not [c for c in columns if c.endswith("_key") or c.endswith("_id")], question.name
    finally:
        engine.dispose()


def test_a_wrong_out_says_so_in_one_line_and_creates_nothing(tmp_path, capsys):
    missing = tmp_path / "no-such-run"
    assert main(["ask", "q01", "--out", str(missing)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no warehouse at" in err and "run the pipeline first" in err
    assert not missing.exists() and list(tmp_path.iterdir()) == []


def test_a_warehouse_without_analytics_says_so_in_one_line(warehouse_url, capsys):
    engine = make_engine(warehouse_url)
    execute(engine, "CREATE SCHEMA IF NOT EXISTS analytics")
    engine.dispose()
    assert main(["ask", "q05", "--warehouse", warehouse_url]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no analytics tables yet" in err


def test_the_warehouse_is_opened_read_only(warehouse_url):
    engine = make_engine(warehouse_url)
    ensure_schemas(engine)
    execute(engine, "CREATE TABLE analytics.probe (x INTEGER)")
    engine.dispose()
    reader = make_engine(warehouse_url, read_only=True)
    try:
        with pytest.raises(Exception, match="(?i)read.only"):
            execute(reader, "INSERT INTO analytics.probe VALUES (1)")
    finally:
        reader.dispose()


def test_a_warehouse_locked_by_a_run_is_said_in_one_line(duckdb_run, tmp_path, capsys):
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(duckdb_run.out / "warehouse.duckdb", copy)
    holder = subprocess.Popen(  # another process holding the file for writing, as a run does
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
                               "sys.stdin.read()", str(copy)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert main(["ask", "q01", "--out", str(tmp_path)]) == 1
    finally:
        holder.communicate(input="", timeout=30)
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "locked by a running pipeline" in err
