"""The pseudonymisation key: where it may live, what happens when it is unusable, that it never
leaks, and that rotating it re-keys the whole analytics schema in one run."""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file (pytest runs in importlib mode)
from privacy_support import as_text, files_under, schema_tables
from carebridge.cli import main
from carebridge.core.keys import (KeyFileError, check_key_location, commit_new_key, ensure_key, load_key,
                             stage_new_key)
from carebridge.runner import PipelineError, rebuild_assets
from warehouse.build import ANALYTICS_TABLES
from warehouse.db import SCHEMAS, make_engine, query, read_table

SECRET_LOOKING = "this-is-not-a-key-but-must-never-be-shown"


# --- the key file ----------------------------------------------------------------------------

def test_a_missing_key_is_created_owner_readable_once(tmp_path):
    path = tmp_path / "config" / "carebridge" / "pseudonymisation.key"
    assert ensure_key(path, out_dir=tmp_path / "out") is True
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and len(load_key(path)) == 32
    assert ensure_key(path, out_dir=tmp_path / "out") is False


def test_a_key_inside_the_output_folder_or_the_repository_is_refused(tmp_path):
    with pytest.raises(KeyFileError, match="inside the output folder"):
        check_key_location(tmp_path / "out" / "pseudonymisation.key", out_dir=tmp_path / "out")
    repository = Path(__file__).resolve().parents[2]
    with pytest.raises(KeyFileError, match="inside the carebridge repository"):
        check_key_location(repository / "pseudonymisation.key")
    check_key_location(tmp_path / "elsewhere.key", out_dir=tmp_path / "out")  # anywhere else is fine


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_a_key_open_to_group_or_others_is_refused_with_the_fix(tmp_path, mode):
    path = tmp_path / "key"
    ensure_key(path)
    os.chmod(path, mode)
    with pytest.raises(KeyFileError) as refused:
        load_key(path)
    message = str(refused.value)
    assert len(message.splitlines()) == 1 and f"chmod 600 {path}" in message and f"{mode:04o}" in message
    os.chmod(path, 0o600)
    assert len(load_key(path)) == 32


def test_carebridge_run_refuses_a_world_readable_key_in_one_line(generated_system, tmp_path, capsys):
    key = tmp_path / "config" / "key"
    ensure_key(key)
    key.chmod(0o644)
    out = tmp_path / "out"
    code = main(["run", "--landing", str(generated_system.landing), "--out", str(out), "--key-file", str(key)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    assert err.startswith("carebridge: ") and f"chmod 600 {key}" in err
    assert not (out / "warehouse.duckdb").exists()


def test_carebridge_run_refuses_a_key_inside_the_landing_area(tmp_path, capsys):
    landing = tmp_path / "landing"
    (landing / "gp").mkdir(parents=True)
    key = landing / "gp" / "pseudonymisation.key"
    code = main(["run", "--landing", str(landing), "--out", str(tmp_path / "out"), "--key-file", str(key)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "inside the landing area" in err
    assert not key.exists()  # refused before a key is created there
    with pytest.raises(KeyFileError, match="inside the landing area"):
        check_key_location(key, out_dir=tmp_path / "out", landing=landing)


def test_a_staged_key_replaces_the_old_one_only_when_committed(tmp_path):
    path = tmp_path / "key"
    ensure_key(path)
    old = load_key(path)
    staged = stage_new_key(path)
    assert load_key(path) == old and load_key(staged) != old
    commit_new_key(staged, path)
    assert load_key(path) != old and not staged.exists()


@pytest.mark.parametrize("content", [SECRET_LOOKING, "ab" * 8, None], ids=["not_hex", "too_short", "a_directory"])
def test_carebridge_run_stops_at_once_with_one_clear_line_for_an_unusable_key(content, generated_system, tmp_path, capsys):
    key = tmp_path / "config" / "key"
    key.parent.mkdir()
    key.mkdir() if content is None else key.write_text(content)
    code = main(["run", "--landing", str(generated_system.landing), "--out", str(tmp_path / "out"), "--key-file", str(key)])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert len(err.splitlines()) == 1 and err.startswith("carebridge: ") and "pseudonymisation key" in err
    assert str(key) in err and SECRET_LOOKING not in err
    assert not (tmp_path / "out" / "warehouse.duckdb").exists()  # nothing ran


def test_carebridge_run_refuses_a_key_in_the_output_folder(generated_system, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", "--landing", str(generated_system.landing), "--out", str(out), "--key-file", str(out / "k")])
    assert code == 1 and "inside the output folder" in capsys.readouterr().err
    assert not (out / "k").exists()


def _copy_run(run, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(run.out, out)
    return out


def test_the_analytics_stage_fails_with_a_clear_error_when_the_key_is_unreadable(duckdb_run, tmp_path):
    out = _copy_run(duckdb_run, tmp_path)
    key = tmp_path / "config" / "key"
    key.parent.mkdir()
    key.write_text(SECRET_LOOKING)
    with pytest.raises(PipelineError) as failure:
        rebuild_assets(duckdb_run.landing, out, ["analytics"], key_file=key, reporter=lambda line: None)
    message = str(failure.value)
    assert len(message.splitlines()) == 1 and message.startswith("analytics: ")
    assert "cannot read the pseudonymisation key file" in message and SECRET_LOOKING not in message


# --- the key never leaks ---------------------------------------------------------------------

def test_the_key_never_appears_in_outputs_logs_or_any_warehouse_table(duckdb_run, helpers, tmp_path):
    key = load_key(duckdb_run.key_file)
    forms = {key.hex().encode(), key.hex().upper().encode(), key}
    log = duckdb_run.log.read_bytes()
    assert b"analytics" in log and b"STEP_SUCCESS" in log, "the log should hold the progress lines and Dagster's log"
    assert not any(form in log for form in forms)
    files = files_under(duckdb_run.out)
    assert len(files) > 50
    assert [p.name for p, data in files.items() if any(form in data for form in forms)] == []
    with helpers.duckdb_copy(duckdb_run, tmp_path) as engine:
        values = [v for schema in SCHEMAS for t in schema_tables(engine, schema).values()
                  for c in t.column_names for v in as_text(t[c]) if v]
        mapping = read_table(engine, "work", "person_key_map").to_pylist()
    scanned, leaked = len(values), sum(1 for v in values if key.hex() in v.lower())
    assert scanned > 50_000 and leaked == 0
    # ... although every person_key was made with it.
    wrong = sum(1 for m in mapping if m["person_key"] != hmac.new(key, m["person_id"].encode(), hashlib.sha256).hexdigest())
    assert len(mapping) > 100 and wrong == 0


# --- rotation --------------------------------------------------------------------------------

def _analytics(engine) -> dict[str, list[dict]]:
    return {name: read_table(engine, "analytics", name).to_pylist() for name in ANALYTICS_TABLES}


def test_rotating_the_key_rekeys_every_person_key_in_one_run(duckdb_run, tmp_path, capsys):
    out = _copy_run(duckdb_run, tmp_path)
    key_file = tmp_path / "config" / "pseudonymisation.key"
    key_file.parent.mkdir()
    shutil.copy(duckdb_run.key_file, key_file)
    old_key = load_key(key_file)
    url = f"duckdb:///{out / 'warehouse.duckdb'}"
    engine = make_engine(url)
    before = _analytics(engine)
    published_before = {n: read_table(engine, "published", n).to_pylist() for n in schema_tables(engine, "published")}
    engine.dispose()

    code = main(["rotate-key", "--landing", str(duckdb_run.landing), "--out", str(out), "--key-file", str(key_file)])
    assert code == 0, capsys.readouterr().err
    new_key = load_key(key_file)
    assert new_key != old_key and not key_file.with_name(key_file.name + ".new").exists()

    engine = make_engine(url)
    after = _analytics(engine)
    mapping = read_table(engine, "work", "person_key_map").to_pylist()
    published_after = {n: read_table(engine, "published", n).to_pylist() for n in published_before}
    engine.dispose()
    assert {n: len(r) for n, r in after.items()} == {n: len(r) for n, r in before.items()}
    old_keys = {r["person_key"] for rows in before.values() for r in rows if "person_key" in r}
    new_keys = {r["person_key"] for rows in after.values() for r in rows if "person_key" in r}
    kept = len(old_keys & new_keys)
    assert len(new_keys) == len(old_keys) > 100 and kept == 0
    wrong = sum(1 for m in mapping if m["person_key"] != hmac.new(new_key, m["person_id"].encode(), hashlib.sha256).hexdigest())
    assert wrong == 0
    unchanged = published_after == published_before                  # aggregates do not depend on the key
    assert unchanged
