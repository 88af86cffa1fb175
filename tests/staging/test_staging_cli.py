"""`carebridge run` over a landing area with one of each bad delivery (issue 17), once: the run
exits 0 without a traceback, the console counts each file status, every fault is in
audit.load_audit with its reason, and the staged tables equal a clean staging's."""

from __future__ import annotations

import os
import shutil

import pyarrow.compute as pc
import pytest

from carebridge.cli import main
from carebridge.core.keys import ensure_key
from carebridge.staging import stage_landing
from warehouse.db import make_engine, read_table
from warehouse.catalog.staging import staged_table_name

pytestmark = pytest.mark.e2e


def _add_faults(landing, clean):
    patient = sorted(landing.glob("gp/*/2025-04/*/patient.csv"))[0]
    folder, provider = patient.parent, patient.parents[2]
    for month in ("2025-13", "latest", "2099-01"):
        shutil.copytree(folder.parent, folder.parents[1] / month)
    shutil.copytree(provider, provider.with_name("Z9 Ödß"))
    (folder / "notes.csv").symlink_to("/etc/passwd")
    os.mkfifo(folder / "pipe.csv")
    (folder / "patient.xlsx").write_bytes(b"PK\x03\x04")
    (landing / "pharmacy" / "FA123" / "2025-04" / "20250501T0900").mkdir(parents=True)
    (landing / "pharmacy" / "FA123" / "2025-04" / "20250501T0900" / "x.csv").write_text("a\n1\n")
    loaded = {r["source_file"] for r in clean.load_audit.to_pylist() if r["file_status"] == "loaded"}
    referral = next(p for p in sorted(landing.glob("gp/*/2025-04/*/referral.csv"))
                    if p.relative_to(landing).as_posix() in loaded)
    lines = referral.read_text().splitlines()
    referral.write_text("\n".join([lines[0] + ",x,x"] + [line + ",1,2" for line in lines[1:]]) + "\n")
    return referral.relative_to(landing).as_posix()


def test_carebridge_run_over_every_kind_of_bad_delivery(tmp_path, capsys):
    from carebridge.synthetic import generate

    generate(150, tmp_path / "landing", tmp_path / "truth", seed=3, months=("2025-04", "2025-06"))
    clean = stage_landing(tmp_path / "landing")
    rejected = _add_faults(tmp_path / "landing", clean)
    key = tmp_path / "config" / "k.key"
    ensure_key(key)
    out = tmp_path / "out"
    code = main(["run", "--landing", str(tmp_path / "landing"), "--out", str(out), "--key-file", str(key)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Traceback" not in captured.err + captured.out
    assert "months staged   : 2025-04 .. 2025-06 (3)" in captured.out
    (files,) = [line for line in captured.out.splitlines() if line.startswith("files           :")]
    engine = make_engine(f"duckdb:///{out / 'warehouse.duckdb'}")
    try:
        audit = read_table(engine, "audit", "load_audit").to_pylist()
        staged = {name: read_table(engine, "staging", staged_table_name(name)) for name in clean.tables}
    finally:
        engine.dispose()
    counts = {}
    for row in audit:
        counts[row["file_status"]] = counts.get(row["file_status"], 0) + 1
    for status, n in counts.items():
        assert f"{status} {n:,}" in files
    reasons = {row["reason"] for row in audit if row["file_status"] in ("ignored", "refused", "rejected")}
    assert reasons == {"bad_month_folder", "month_out_of_range", "bad_provider_folder", "symlink", "special_file",
                       "wrong_file_type", "unknown_source", "duplicate_column"}
    assert any("'Z9 Ödß'" in (row["detail"] or "") for row in audit)
    order = [("source_file", "ascending"), ("source_line", "ascending")]
    for name, table in clean.tables.items():
        expected = table.filter(pc.not_equal(table["source_file"], rejected)).sort_by(order)
        got = staged[name].select(table.column_names).sort_by(order)
        assert got.equals(expected.cast(got.schema)), name
