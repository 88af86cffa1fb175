"""One bad delivery at a time (issue 17): a small generated system plus one fault, staged and
compared with the clean staging. Each test checks the fault's load-audit status and reason, that
nothing outside the landing area is read, and that the rest of the data equals the clean run."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from carebridge.staging import reconcile, stage_landing
from carebridge.staging.audit import FILE_REASONS, FILE_STATUSES
from carebridge.staging.landing import delivery_folders, delivery_months, scan

MONTHS = ("2025-04", "2025-06")


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """A generated system (150 people, three months, no faults) and its clean staging."""
    from carebridge.synthetic import generate

    root = tmp_path_factory.mktemp("clean")
    generate(150, root / "landing", root / "truth", seed=3, months=MONTHS)
    return root / "landing", stage_landing(root / "landing")


@pytest.fixture
def faulty(clean, tmp_path):
    """A private copy of the clean landing area to add one fault to."""
    landing = tmp_path / "landing"
    shutil.copytree(clean[0], landing)
    return landing


def first(landing: Path, pattern: str) -> Path:
    """The first file matching `pattern` (sorted), e.g. the earliest month's GP patient file."""
    return sorted(landing.glob(pattern))[0]


def first_with_rows(landing: Path, pattern: str) -> Path:
    """The first file matching `pattern` with at least one data row."""
    return next(p for p in sorted(landing.glob(pattern)) if len(p.read_bytes().splitlines()) > 1)


def rel(landing: Path, path: Path) -> str:
    return path.relative_to(landing).as_posix()


def audit_of(result, source_file: str) -> dict:
    (row,) = [r for r in result.load_audit.to_pylist() if r["source_file"] == source_file]
    return row


def without_file(table: pa.Table, source_file: str) -> pa.Table:
    return table.filter(pc.not_equal(table["source_file"], source_file))


def assert_rest_equals_clean(result, clean_result, *, except_file: str | None = None) -> None:
    """Every staged table (and the quarantine) equals the clean staging's, apart from `except_file`'s rows.

    `except_file` is always a file of the earliest month, so its rows never replaced another file's."""
    for name, table in clean_result.tables.items():
        expected = without_file(table, except_file) if except_file else table
        got = without_file(result.tables[name], except_file) if except_file else result.tables[name]
        assert got.equals(expected), name
    quarantine = result.quarantine
    if except_file:
        quarantine = without_file(quarantine, except_file)
    assert quarantine.equals(clean_result.quarantine)
    assert reconcile(result.load_audit, result.quarantine, result.tables) == []


def assert_accounted(result) -> None:
    """Every audit row has a known status, and every status but loaded a known reason."""
    for row in result.load_audit.to_pylist():
        assert row["file_status"] in FILE_STATUSES
        if row["file_status"] != "loaded":
            assert row["reason"] in FILE_REASONS[row["file_status"]] and row["detail"], row


def test_the_clean_system_loads_every_file(clean):
    landing, result = clean
    assert set(result.load_audit["file_status"].to_pylist()) <= {"loaded", "superseded"}
    assert result.ignored_files == () and result.quarantine.num_rows == 0
    assert list(delivery_months(landing)) == ["2025-04", "2025-05", "2025-06"]
    assert len(delivery_folders(landing)) * 3 < result.load_audit.num_rows


# --- 1. the landing area is a boundary -----------------------------------------------------

def test_a_file_symlink_is_refused_and_never_read(clean, faulty):
    folder = first(faulty, "gp/*/2025-04/*/patient.csv").parent
    (folder / "coded_event.csv").unlink()
    (folder / "coded_event.csv").symlink_to("/etc/passwd")
    (folder / "notes.csv").symlink_to(faulty / ".." / ".." / "secret.csv")
    result = stage_landing(faulty)
    row = audit_of(result, rel(faulty, folder / "coded_event.csv"))
    assert (row["file_status"], row["reason"], row["rows_read"]) == ("refused", "symlink", 0)
    assert "symbolic link" in row["detail"] and row["source_file"] in row["detail"]
    assert audit_of(result, rel(faulty, folder / "notes.csv"))["reason"] == "symlink"
    assert not any("root:" in (r or "") for r in result.quarantine["raw_row"].to_pylist())
    assert_rest_equals_clean(result, clean[1], except_file=rel(faulty, folder / "coded_event.csv"))
    assert_accounted(result)


def test_symlinked_provider_month_and_submission_folders_are_refused(clean, faulty, tmp_path):
    outside = tmp_path / "outside"
    shutil.copytree(first(faulty, "gp/*/2025-04/*/patient.csv").parents[2], outside / "ZZZ99")
    (faulty / "gp" / "ZZZ99").symlink_to(outside / "ZZZ99")  # a provider folder
    month = first(faulty, "vcse/*/2025-05").parent
    (month / "2025-03").symlink_to(month / "2025-05")  # a month folder
    submission = first(faulty, "mhsds/*/2025-05/*")
    (submission.parent / "20250701T0000").symlink_to(submission)  # a later submission folder
    result = stage_landing(faulty)
    refused = {r["source_file"]: r["reason"] for r in result.load_audit.to_pylist() if r["file_status"] == "refused"}
    assert refused == {"gp/ZZZ99": "symlink", rel(faulty, month / "2025-03"): "symlink",
                       rel(faulty, submission.parent / "20250701T0000"): "symlink"}
    assert_rest_equals_clean(result, clean[1])


def test_special_files_are_refused_without_blocking(clean, faulty):
    folder = first(faulty, "gp/*/2025-05/*/patient.csv").parent
    os.mkfifo(folder / "referral_extra.csv")  # reading a FIFO would block for ever
    sock = socket.socket(socket.AF_UNIX)
    short = Path(tempfile.mkdtemp(dir="/tmp")) / "s"  # socket paths are limited to ~100 bytes
    sock.bind(str(short))
    os.rename(short, folder / "sock.csv")
    try:
        result = stage_landing(faulty)
    finally:
        sock.close()
    for name in ("referral_extra.csv", "sock.csv"):
        row = audit_of(result, rel(faulty, folder / name))
        assert (row["file_status"], row["reason"]) == ("refused", "special_file")
    assert_rest_equals_clean(result, clean[1])


def test_a_file_swapped_for_a_link_after_the_scan_is_not_followed(faulty):
    from carebridge.staging.landing import read_landed

    landed = next(f for f in scan(faulty).files if f.table_name == "patient")
    landed.path.unlink()
    landed.path.symlink_to("/etc/passwd")
    with pytest.raises(OSError):
        read_landed(landed)
    folder = landed.path.parent
    shutil.move(folder, folder.with_name("moved"))
    folder.symlink_to(folder.with_name("moved"))  # a folder on the way swapped for a link
    with pytest.raises(OSError):
        read_landed(landed)


# --- 2. every file accounted for ------------------------------------------------------------

def test_wrong_file_types_unknown_sources_and_stray_files_are_listed(clean, faulty):
    folder = first(faulty, "gp/*/2025-04/*/patient.csv").parent
    (folder / "patient.xlsx").write_bytes(b"PK\x03\x04 not a csv")
    (faulty / "pharmacy" / "FA123" / "2025-04" / "20250501T0900").mkdir(parents=True)
    (faulty / "pharmacy" / "FA123" / "2025-04" / "20250501T0900" / "dispensing.csv").write_text("a\n1\n")
    (folder.parent / "readme.txt").write_text("delivered by hand")
    (faulty / "gp" / "loose.csv").write_text("a\n1\n")
    result = stage_landing(faulty)
    expected = {rel(faulty, folder / "patient.xlsx"): ("ignored", "wrong_file_type"),
                "pharmacy/FA123/2025-04/20250501T0900/dispensing.csv": ("ignored", "unknown_source"),
                rel(faulty, folder.parent / "readme.txt"): ("ignored", "unexpected_location"),
                "gp/loose.csv": ("ignored", "unexpected_location")}
    got = {r["source_file"]: (r["file_status"], r["reason"]) for r in result.load_audit.to_pylist()
           if r["file_status"] not in ("loaded", "superseded")}
    assert got == expected
    assert "pharmacy" in audit_of(result, "pharmacy/FA123/2025-04/20250501T0900/dispensing.csv")["detail"]
    assert set(result.ignored_files) == set(expected)
    assert_rest_equals_clean(result, clean[1])
    assert_accounted(result)


def test_a_table_in_csv_and_parquet_keeps_the_csv_and_reports_the_parquet(clean, faulty):
    path = first(faulty, "gp/*/2025-04/*/referral.csv")
    pq.write_table(pacsv.read_csv(path), path.with_suffix(".parquet"))
    result = stage_landing(faulty)
    row = audit_of(result, rel(faulty, path.with_suffix(".parquet")))
    assert (row["file_status"], row["reason"]) == ("ignored", "duplicate_format")
    assert "referral.csv is staged" in row["detail"]
    assert audit_of(result, rel(faulty, path))["file_status"] == "loaded"
    assert_rest_equals_clean(result, clean[1])


def test_an_empty_file_is_rejected_as_empty(clean, faulty):
    path = first(faulty, "gp/*/2025-04/*/referral.csv")
    path.write_bytes(b"")
    result = stage_landing(faulty)
    row = audit_of(result, rel(faulty, path))
    assert (row["file_status"], row["reason"], row["rows_read"]) == ("rejected", "empty_file", 0)
    assert "missing" not in row["detail"]
    assert_rest_equals_clean(result, clean[1], except_file=rel(faulty, path))


# --- 3. a bad file never stops the run -------------------------------------------------------

def _add_columns(path: Path, names: list[str], values: list[str]) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + "," + ",".join(names)] + [line + "," + ",".join(values) for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("table, names, values", [
    ("gp/*/2025-04/*/patient.csv", ["x", "x"], ["1", "2"]),                                   # unknown names
    ("mhsds/*/2025-04/*/MHS101Referral.csv", ["ServiceRequestId"], [""]),                     # a known name
    ("mhsds/*/2025-04/*/MHS001MPI.csv", ["Gender"], ["1"]),                               # an alias (v5 and v6)
    ("gp/*/2025-04/*/patient.csv", ["PATIENT_ID"], ["P1"]),                                   # names differ in case only
], ids=["unknown", "known", "alias", "case"])
def test_a_repeated_column_rejects_that_file_and_the_rest_loads(clean, faulty, table, names, values):
    path = first_with_rows(faulty, table)
    _add_columns(path, names, values)
    result = stage_landing(faulty)
    row = audit_of(result, rel(faulty, path))
    assert (row["file_status"], row["reason"]) == ("rejected", "duplicate_column")
    assert row["rows_read"] == row["rows_quarantined"] > 0 and "ambiguous header" in row["detail"]
    assert_rest_equals_clean(result, clean[1], except_file=rel(faulty, path))


@pytest.mark.parametrize("month, reason", [("2025-13", "bad_month_folder"), ("latest", "bad_month_folder"),
                                           ("2099-01", "month_out_of_range"), ("1999-12", "month_out_of_range"),
                                           ("2025-4", "bad_month_folder")])
def test_a_bad_month_folder_is_ignored_and_never_becomes_a_partition(clean, faulty, month, reason):
    source = first(faulty, "gp/*/2025-04/*/patient.csv").parents[1]
    shutil.copytree(source, source.with_name(month))
    result = stage_landing(faulty)
    rows = [r for r in result.load_audit.to_pylist() if r["file_status"] == "ignored"]
    assert len(rows) == 4 and {r["reason"] for r in rows} == {reason}
    assert all(f"month folder {month!r}" in r["detail"] and r["reporting_month"] is None for r in rows)
    assert list(delivery_months(faulty)) == ["2025-04", "2025-05", "2025-06"]
    assert all(f.split("/")[2] != month for f in delivery_folders(faulty))
    assert_rest_equals_clean(result, clean[1])
    # staged month by month, the ignored files are reported once (with the earliest month)
    by_month = [stage_landing(faulty, months=[m]) for m in delivery_months(faulty)]
    assert sum(r.load_audit.filter(pc.equal(r.load_audit["file_status"], "ignored")).num_rows for r in by_month) == 4


@pytest.mark.parametrize("name", ["Z9 Ödß", "z90009", "Z9", "Z9'; DROP TABLE x;--", "Z90009.", "ＺＺ９９９"])
def test_a_provider_folder_that_is_no_ods_code_is_ignored_naming_the_folder(clean, faulty, name):
    source = first(faulty, "gp/*/2025-04/*/patient.csv").parents[2]
    shutil.copytree(source, source.with_name(name))
    result = stage_landing(faulty)
    rows = [r for r in result.load_audit.to_pylist() if r["file_status"] == "ignored"]
    assert rows and {r["reason"] for r in rows} == {"bad_provider_folder"}
    assert all(repr(name) in r["detail"] and r["provider_ods"] is None for r in rows)
    assert_rest_equals_clean(result, clean[1])


def test_a_bad_submission_folder_is_ignored(clean, faulty):
    submission = first(faulty, "gp/*/2025-04/*")
    shutil.copytree(submission, submission.with_name("final_v2"))
    result = stage_landing(faulty)
    assert {r["reason"] for r in result.load_audit.to_pylist() if r["file_status"] == "ignored"} == {
        "bad_submission_folder"}
    assert_rest_equals_clean(result, clean[1])


# --- 4. row-level damage stays row-level -----------------------------------------------------

@pytest.mark.parametrize("size", [3_000_000, 1_048_577])
def test_an_oversized_field_quarantines_its_row_only(clean, faulty, size):
    path = first(faulty, "gp/*/2025-04/*/patient.csv")
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3] + b"A" * size  # the last field of line 4 grows past the limit
    path.write_bytes(b"\n".join(lines))
    result = stage_landing(faulty)
    row = audit_of(result, rel(faulty, path))
    clean_row = audit_of(clean[1], rel(faulty, path))
    assert row["file_status"] == "loaded" and row["rows_read"] == clean_row["rows_read"]
    assert row["rows_read"] == row["rows_staged"] + row["rows_quarantined"] + row["rows_superseded"]
    (bad,) = result.quarantine.filter(pc.equal(result.quarantine["source_file"], rel(faulty, path))).to_pylist()
    assert (bad["source_line"], bad["reason_code"]) == (4, "oversized_field")
    assert len(bad["raw_row"]) == 1_048_576 and "type1_objection" in bad["detail"]
    staged = result.tables["gp.patient"]
    expected = clean[1].tables["gp.patient"]
    expected = expected.filter(pc.or_(pc.not_equal(expected["source_file"], rel(faulty, path)),
                                      pc.not_equal(expected["source_line"], 4)))
    assert staged.equals(expected)


def test_an_oversized_record_of_many_lines_still_counts(clean, faulty):
    path = first(faulty, "gp/*/2025-04/*/patient.csv")
    text = path.read_text(encoding="utf-8")
    fields = text.splitlines()[1].split(",")
    fields[0] += "X"
    fields[2] = '"' + "line\n" * 700_000 + '"'  # 3.5 MB inside quotes, over many short lines
    path.write_text(text.rstrip("\n") + "\n" + ",".join(fields) + "\n", encoding="utf-8")
    result = stage_landing(faulty)
    row = audit_of(result, rel(faulty, path))
    assert row["rows_read"] == audit_of(clean[1], rel(faulty, path))["rows_read"] + 1
    (bad,) = result.quarantine.filter(pc.equal(result.quarantine["source_file"], rel(faulty, path))).to_pylist()
    assert bad["reason_code"] == "oversized_field" and "given_name" in bad["detail"]
    assert_rest_equals_clean(result, clean[1], except_file=rel(faulty, path))
    staged = result.tables["gp.patient"].filter(pc.equal(result.tables["gp.patient"]["source_file"], rel(faulty, path)))
    expected = clean[1].tables["gp.patient"]
    assert staged.equals(expected.filter(pc.equal(expected["source_file"], rel(faulty, path))))


# --- 5. encodings decided per file with evidence ----------------------------------------------

def test_one_stray_windows_1252_byte_quarantines_its_line_and_keeps_utf8(clean, faulty):
    path = first(faulty, "gp/*/2025-04/*/patient.csv")
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b",", "é,".encode("utf-8"), 3)  # real UTF-8 names on line 2
    lines[2] = lines[2].replace(b",", b"\xe9,", 3)  # a stray Windows-1252 byte on line 3
    path.write_bytes(b"\n".join(lines))
    result = stage_landing(faulty)
    row = audit_of(result, rel(faulty, path))
    assert row["encoding"] == "utf-8" and row["rows_read"] == audit_of(clean[1], rel(faulty, path))["rows_read"]
    mine = result.quarantine.filter(pc.equal(result.quarantine["source_file"], rel(faulty, path))).to_pylist()
    assert [(q["source_line"], q["reason_code"]) for q in mine] == [(3, "invalid_encoding")]
    assert "\\xe9" in mine[0]["raw_row"]
    names = result.tables["gp.patient"].filter(pc.equal(result.tables["gp.patient"]["source_file"], rel(faulty, path)))
    assert not any("Ã" in (n or "") for n in names["given_name"].to_pylist())
    assert sum("é" in (n or "") for n in names["given_name"].to_pylist()) == 1


def test_a_windows_1252_file_is_converted_and_undefined_bytes_quarantine_their_line(faulty):
    path = first(faulty, "gp/*/2025-04/*/patient.csv")
    path.write_bytes(path.read_text(encoding="utf-8").encode("cp1252"))  # a whole Windows-1252 file
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b",", "Zoë’,".encode("cp1252"), 3)
    lines[2] = lines[2].replace(b",", b"\x81,", 3)  # undefined in Windows-1252 and not UTF-8
    path.write_bytes(b"\n".join(lines))
    result = stage_landing(faulty)
    row = audit_of(result, rel(faulty, path))
    assert row["encoding"] == "windows-1252"
    mine = result.quarantine.filter(pc.equal(result.quarantine["source_file"], rel(faulty, path))).to_pylist()
    assert [(q["source_line"], q["reason_code"]) for q in mine] == [(3, "invalid_encoding")]
    names = result.tables["gp.patient"].filter(pc.equal(result.tables["gp.patient"]["source_file"], rel(faulty, path)))
    assert sum("Zoë’" in (n or "") for n in names["given_name"].to_pylist()) == 1
    assert reconcile(result.load_audit, result.quarantine, result.tables) == []


# --- Parquet --------------------------------------------------------------------------------

def test_a_parquet_timestamp_for_a_date_is_converted_at_midnight_only(clean, faulty):
    path = first(faulty, "gp/*/2025-04/*/patient.csv")
    with open(path, "rb") as fh:
        names = fh.readline().decode().strip().split(",")
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
        column_types={n: pa.timestamp("us") if n == "birth_date" else pa.string() for n in names},
        strings_can_be_null=True))
    births = table["birth_date"].to_pylist()
    births[0] = births[0].replace(hour=10)  # one birth "date" with a time of day
    table = table.set_column(table.column_names.index("birth_date"), "birth_date", pa.array(births, pa.timestamp("us")))
    path.unlink()
    pq.write_table(table, path.with_suffix(".parquet"))
    result = stage_landing(faulty)
    row = audit_of(result, rel(faulty, path.with_suffix(".parquet")))
    assert row["file_status"] == "loaded" and row["encoding"] == "parquet"
    mine = result.quarantine.filter(pc.equal(result.quarantine["source_file"], row["source_file"])).to_pylist()
    assert [(q["source_line"], q["reason_code"]) for q in mine] == [(2, "invalid_date")]
    got = result.tables["gp.patient"].filter(pc.equal(result.tables["gp.patient"]["source_file"], row["source_file"]))
    expected = clean[1].tables["gp.patient"]
    expected = expected.filter(pc.and_(pc.equal(expected["source_file"], rel(faulty, path)),
                                       pc.not_equal(expected["source_line"], 2)))
    assert got.drop_columns(["source_file"]).equals(expected.drop_columns(["source_file"]))


def test_folder_rules_match_the_uk_core_ods_rule():
    import yaml

    from carebridge.staging.tables import defaults

    rules = yaml.safe_load((Path(__file__).parents[2] / "fhir_mapping" / "ukcore_rules.yaml").read_text())
    assert defaults()["landing"]["provider_pattern"] == rules["ods"]["code_pattern"]



def test_a_landing_area_with_only_bad_folders_stops_with_one_line(tmp_path, capsys):
    from carebridge.cli import main
    from carebridge.core.keys import ensure_key

    folder = tmp_path / "landing" / "gp" / "ODS1" / "2025-13" / "20250105T0900"
    folder.mkdir(parents=True)
    (folder / "patient.csv").write_text("patient_id\nP1\n")
    key = tmp_path / "config" / "k.key"
    ensure_key(key)
    code = main(["run", "--landing", str(tmp_path / "landing"), "--out", str(tmp_path / "out"), "--key-file", str(key)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("carebridge: no deliveries under") and "month folder '2025-13'" in err
