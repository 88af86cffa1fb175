"""`audit.disclosure_log`: which organisation received which person's records, in which run."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import datetime, timezone

import pyarrow as pa

from carebridge.runner import rebuild_assets
from fhir_mapping.bundles import read_delivered
from fhir_mapping.disclosure import DISCLOSURE_LOG_SCHEMA, disclosure_log
from warehouse.db import make_engine, read_table

WHEN = datetime(2026, 4, 1, 12, 0, tzinfo=timezone.utc)


def _record(rtype: str, rid: str, person: str, holder: str, key: str = "subject") -> dict:
    return {"resource": {"resourceType": rtype, "id": rid, "meta": {"tag": [{"code": f"mhsds|{holder}"}]},
                         key: {"reference": f"Patient/{person}"}}}


def test_each_person_and_holder_in_a_bundle_is_one_row_with_its_record_count():
    bundle = {"entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "meta": {"tag": [{"code": "index|person"}]}}},
        {"resource": {"resourceType": "Organization", "id": "o1", "meta": {"tag": [{"code": "reference|RZZ"}]}}},
        _record("Encounter", "e1", "p1", "RZZ"), _record("Encounter", "e2", "p1", "RZZ"),
        _record("EpisodeOfCare", "c1", "p1", "RZZ", key="patient"), _record("Observation", "o1", "p1", "RZY"),
        _record("ServiceRequest", "s1", "p2", "RZZ"),
    ]}
    log = disclosure_log(iter([("Z90001", "2025-06", bundle)]), "run-1", WHEN)
    assert log.schema == DISCLOSURE_LOG_SCHEMA
    assert [(r["recipient_ods"], r["month"], r["person_id"], r["holder_ods"], r["records"]) for r in log.to_pylist()] == [
        ("Z90001", "2025-06", "p1", "RZY", 1), ("Z90001", "2025-06", "p1", "RZZ", 3), ("Z90001", "2025-06", "p2", "RZZ", 1)]
    assert set(log["run_id"].to_pylist()) == {"run-1"} and set(log["action"].to_pylist()) == {"sent"}
    assert disclosure_log(iter([]), "run-2", WHEN).num_rows == 0


def _bundle_disclosures(out) -> Counter:
    """(recipient, month, person) -> records about that person, read back from the delivery parts."""
    found: Counter = Counter()
    for (recipient, month), bundle in read_delivered(out).items():
        for entry in bundle["entry"]:
            ref = (entry["resource"].get("subject") or entry["resource"].get("patient") or {}).get("reference", "")
            if ref.startswith("Patient/"):
                found[(recipient, month, ref.split("/", 1)[1])] += 1
    return found


def test_the_log_matches_the_bundles_sent_and_grows_by_one_run_per_run(duckdb_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(duckdb_run.out, out)
    engine = make_engine(f"duckdb:///{out / 'warehouse.duckdb'}")
    log = read_table(engine, "audit", "disclosure_log").to_pylist()
    relationships = {(r["ods"], r["month"], r["person_id"])
                     for r in read_table(engine, "fhir", "care_relationship").to_pylist()}
    engine.dispose()
    logged: Counter = Counter()
    for r in log:
        logged[(r["recipient_ods"], r["month"], r["person_id"])] += r["records"]
    runs, rows = len({r["run_id"] for r in log}), len(log)
    assert runs == 1 and rows > 100
    # Compared as counts, so a failure shows no person ids.
    sent = _bundle_disclosures(out)
    mismatched = sum(1 for k in set(logged) | set(sent) if logged[k] != sent[k])
    outside = len(set(logged) - relationships)
    assert (mismatched, outside) == (0, 0)

    rebuild_assets(duckdb_run.landing, out, ["fhir_bundles"], key_file=duckdb_run.key_file, reporter=lambda line: None)
    engine = make_engine(f"duckdb:///{out / 'warehouse.duckdb'}")
    again = read_table(engine, "audit", "disclosure_log").to_pylist()
    engine.dispose()
    runs = Counter(r["run_id"] for r in again)
    assert len(runs) == 2 and set(runs.values()) == {len(log)}


def test_a_record_no_longer_sent_is_retracted_and_logged(duckdb_run, tmp_path):
    """The ledger says an organisation holds a record this run does not send it (as after a later
    submission withdrew it): the run writes a conditional DELETE for it and logs the retraction;
    the next run retracts nothing more."""
    from warehouse.db import write_table

    out = tmp_path / "out"
    shutil.copytree(duckdb_run.out, out)
    engine = make_engine(f"duckdb:///{out / 'warehouse.duckdb'}")
    ledger = read_table(engine, "audit", "disclosure_ledger")
    withdrawn = {**ledger.slice(0, 1).to_pylist()[0], "resource_id": "withdrawn-1", "identifier_value": "W1"}
    write_table(engine, "audit", "disclosure_ledger",
                pa.concat_tables([ledger, pa.Table.from_pylist([withdrawn], schema=ledger.schema)]))
    engine.dispose()

    rebuild_assets(duckdb_run.landing, out, ["fhir_bundles"], key_file=duckdb_run.key_file, reporter=lambda line: None)
    (path,) = sorted((out / "fhir" / "bundles").glob("*/retractions/*.json"))
    assert path.parent.parent.name == withdrawn["recipient_ods"]
    part = json.loads(path.read_text(encoding="utf-8"))
    assert part["entry"] == [{"request": {"method": "DELETE", "url": f"{withdrawn['resource_type']}?identifier="
                                                                    f"{withdrawn['identifier_system']}|W1"}}]
    engine = make_engine(f"duckdb:///{out / 'warehouse.duckdb'}")
    log = read_table(engine, "audit", "disclosure_log").to_pylist()
    engine.dispose()
    retractions = [r for r in log if r["action"] == "retracted"]
    assert [(r["recipient_ods"], r["person_id"], r["records"]) for r in retractions] == [
        (withdrawn["recipient_ods"], withdrawn["person_id"], 1)]

    rebuild_assets(duckdb_run.landing, out, ["fhir_bundles"], key_file=duckdb_run.key_file, reporter=lambda line: None)
    assert not list((out / "fhir" / "bundles").glob("*/retractions/*.json"))
