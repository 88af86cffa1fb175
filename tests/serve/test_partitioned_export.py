"""A partitioned NDJSON export (several parts per type, every part in the Bulk Data manifest, as the
Spark export writes it) read by every reader of an export: the views loader, the bundle writer
and `carebridge serve`, each giving what the one-file-per-type export gives."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from fhir_mapping.ndjson import manifest_files, manifest_parts, read_ndjson, type_lines, write_parts_manifest

PARTS = 3


def _split(single: Path, target: Path) -> Path:
    """The export in `single` as PARTS parts per type (line i in part i % PARTS, so each part keeps
    id order), with a manifest listing every part."""
    target.mkdir(parents=True)
    manifest = json.loads((single / "manifest.json").read_text(encoding="utf-8"))
    parts = []
    for rtype, (path, _) in manifest_files(single).items():
        lines = [line for line in path.read_text(encoding="utf-8").splitlines(keepends=True) if line.strip()]
        for k in range(PARTS):
            chunk = lines[k::PARTS]
            if chunk:
                (target / f"{rtype}.{k:05d}.ndjson").write_text("".join(chunk), encoding="utf-8")
                parts.append((rtype, f"{rtype}.{k:05d}.ndjson", len(chunk)))
    write_parts_manifest(target, parts, manifest["transactionTime"])
    return target


@pytest.fixture(scope="module")
def exports(duckdb_run, tmp_path_factory) -> tuple[Path, Path]:
    """(one file per type, the same export in parts), each as `<out>/fhir/ndjson`."""
    root = tmp_path_factory.mktemp("partitioned")
    single = root / "single" / "fhir" / "ndjson"
    shutil.copytree(duckdb_run.out / "fhir" / "ndjson", single)
    _split(single, root / "parts" / "fhir" / "ndjson")
    return single, root / "parts" / "fhir" / "ndjson"


def test_the_manifest_lists_every_part_and_lines_merge_in_id_order(exports):
    single, parts = exports
    listed = manifest_parts(parts)
    assert all(len(paths) == PARTS for paths, _ in listed.values() if len(paths) > 1)
    assert any(len(paths) > 1 for paths, _ in listed.values())
    assert {t: n for t, (_, n) in listed.items()} == {t: n for t, (_, n) in manifest_parts(single).items()}
    for rtype, (paths, _) in listed.items():
        assert list(type_lines(paths)) == list(type_lines(manifest_parts(single)[rtype][0]))
    assert read_ndjson(parts) == read_ndjson(single)
    with pytest.raises(ValueError, match="parts"):
        manifest_files(parts)


def test_the_views_loader_reads_every_part(exports):
    from warehouse.engines.duckdb_views import load_ndjson

    single, parts = exports
    tables = {}
    for name, folder in (("single", single), ("parts", parts)):
        con = duckdb.connect()
        load_ndjson(con, {t: paths for t, (paths, _) in manifest_parts(folder).items()})
        tables[name] = {t: sorted(con.sql(f"SELECT id, resource::VARCHAR FROM fhir_{t}").fetchall())
                        for t in manifest_parts(folder)}
        con.close()
    assert tables["parts"] == tables["single"] and sum(map(len, tables["single"].values())) > 100


def test_bundles_from_parts_are_the_bundles_of_the_single_files(exports, generated_system, tmp_path):
    from carebridge.linkage import build_person_index
    from carebridge.staging import stage_landing
    from fhir_mapping.bundles import care_relationships, write_bundles_from_ndjson

    single, parts = exports
    staged = stage_landing(generated_system.landing).tables
    relationships = care_relationships(staged, build_person_index(staged))
    written = {}
    for name, folder in (("single", single), ("parts", parts)):
        out = tmp_path / name
        export = write_bundles_from_ndjson(folder, relationships, out)
        written[name] = {p.relative_to(out).as_posix(): p.read_bytes() for p in export.paths}
    assert written["parts"] == written["single"] and len(written["single"]) > 10


def test_serve_indexes_and_exports_every_part(exports, tmp_path):
    from carebridge.serve.jobs import Job, write_export
    from carebridge.serve.store import SYSTEM, load_served

    single, parts = exports
    served = {name: load_served(folder.parent.parent) for name, folder in (("single", single), ("parts", parts))}
    assert served["parts"].types == served["single"].types
    assert set(served["parts"].offsets) == set(served["single"].offsets)
    assert all(served["parts"].line(key) == served["single"].line(key) for key in served["single"].offsets)
    files = {}
    for name, s in served.items():
        job = Job(id=name, client_id="c", ods=SYSTEM, request="r", types=s.types, since_month=None,
                  transaction_time=s.transaction_time, folder=tmp_path / name)
        write_export(s, job, "https://x")
        files[name] = {p.name: p.read_bytes() for p in sorted(job.folder.iterdir())}
    assert files["parts"] == files["single"] and files["single"]
