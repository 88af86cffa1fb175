"""Clerical review end to end: the person_index asset queues what it cannot decide,
`carebridge linkage review` lists the queue and records decisions, the next runs honour them, and
person ids survive."""

from __future__ import annotations

import csv
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

from carebridge.cli import main
from carebridge.linkage.review import DecisionError, read_decisions
from pipelines.spark_resource import SparkResource

PERSONS = 600


@pytest.fixture(scope="module")
def system(shared_build) -> Path:
    from carebridge.synthetic import generate

    return shared_build(f"linkage_review_{PERSONS}", lambda folder: generate(
        PERSONS, folder / "landing", folder / "truth", seed=8, fault_rate=0.02,
        demographic_faults={"nhs_typo_valid": 0.08, "nhs_other_person": 0.08, "twin": 0.05, "sex_mismatch": 0.05}))


def _materialize(resource):
    from pipelines.linkage_assets import person_index

    result = dg.materialize([person_index], resources={"carebridge": resource, "spark": SparkResource()}, instance=dg.DagsterInstance.ephemeral(),
                            raise_on_error=True)
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def _queue(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _key(row, side):
    return (row[f"source_{side}"], row[f"provider_ods_{side}"], row[f"local_patient_id_{side}"])


def test_review_lists_the_queue_takes_decisions_and_every_later_run_honours_them(system, tmp_path, capsys):
    from pipelines.resources import CarebridgeResource
    from carebridge.staging import stage_landing
    from warehouse.db import read_table
    from warehouse.catalog.staging import save_staged

    out = tmp_path / "out"
    resource = CarebridgeResource(landing_dir=str(system / "landing"), out_dir=str(out))
    try:
        staged = stage_landing(system / "landing")
        save_staged(resource.engine, staged.tables, staged.quarantine, staged.load_audit)
        assert _materialize(resource) == {"one_person_per_record": True, "no_person_id_lost": True}
        resource.dispose()

        assert main(["linkage", "review", "--out", str(out)]) == 0
        assert "pair(s) to review" in capsys.readouterr().out
        queue = _queue(out / "linkage_review" / "queue.csv")
        pairs = [r for r in queue if r["local_patient_id_r"]]
        assert pairs and {"kind", "why", "match_weight", "evidence", "birth_date_l", "birth_date_r", "decision"} <= set(queue[0])
        assert all(r["why"] for r in queue) and any("birth_date" in r["evidence"] for r in pairs)
        apart = next(r for r in pairs if r["person_id_l"] != r["person_id_r"])
        together = next((r for r in pairs if r["person_id_l"] == r["person_id_r"]),
                        next(r for r in pairs if r is not apart))
        decided = []
        for row in queue:
            if row is apart:
                row = {**row, "decision": "match", "note": "same person: checked with the practice"}
            elif row is together:
                row = {**row, "decision": "not a match"}
            decided.append(row)
        answers = tmp_path / "decisions.csv"
        with open(answers, "w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(queue[0]))
            writer.writeheader()
            writer.writerows(decided)
        assert main(["linkage", "review", "--out", str(out), "--decisions", str(answers), "--decided-by", "test"]) == 0
        assert "recorded 2 decision(s)" in capsys.readouterr().out

        ids_before = {(r["source"], r["provider_ods"], r["local_patient_id"]): r["person_id"]
                      for r in read_table(resource.engine, "linkage", "person_id_map").to_pylist()}
        for run in range(2):   # honoured on every later run, not only the next
            assert _materialize(resource) == {"one_person_per_record": True, "no_person_id_lost": True}
            ids = {(r["source"], r["provider_ods"], r["local_patient_id"]): r["person_id"]
                   for r in read_table(resource.engine, "linkage", "person_id_map").to_pylist()}
            assert ids[_key(apart, "l")] == ids[_key(apart, "r")]
            assert ids[_key(together, "l")] != ids[_key(together, "r")]
            reviews = read_table(resource.engine, "linkage", "linkage_review").to_pylist()
            queued = {frozenset((_key(r, "l"), _key(r, "r"))) for r in reviews if r["local_patient_id_r"]}
            assert frozenset((_key(apart, "l"), _key(apart, "r"))) not in queued
            assert frozenset((_key(together, "l"), _key(together, "r"))) not in queued
        kept = read_table(resource.engine, "linkage", "linkage_decision").to_pylist()
        assert [(r["decision"], r["decided_by"]) for r in kept] == [("match", "test"), ("non_match", "test")] or \
            sorted(r["decision"] for r in kept) == ["match", "non_match"]
        # stable ids: every id of before the decisions is still live or retired into a live one
        retired = {r["retired_id"]: r["surviving_id"]
                   for r in read_table(resource.engine, "linkage", "person_id_retired").to_pylist()}
        live = set(ids.values())
        assert all(old in live or retired.get(old) in live for old in ids_before.values())
    finally:
        resource.dispose()


def test_a_bad_decisions_file_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {source_l: gp, provider_ods_l: X, local_patient_id_l: G1, source_r: gp, provider_ods_r: X, "
                   "local_patient_id_r: G2, decision: perhaps}\n", encoding="utf-8")
    with pytest.raises(DecisionError, match="decision 1: 'perhaps' is neither"):
        read_decisions(bad, "2026-01-01T00:00:00Z")
    good = tmp_path / "good.yaml"
    good.write_text("decisions:\n- {source_l: gp, provider_ods_l: X, local_patient_id_l: G1, source_r: gp, "
                    "provider_ods_r: X, local_patient_id_r: G2, decision: same person}\n", encoding="utf-8")
    table = read_decisions(good, "2026-01-01T00:00:00Z", "me")
    assert table.to_pylist()[0]["decision"] == "match" and table.to_pylist()[0]["decided_by"] == "me"
    assert main(["linkage", "review", "--out", str(tmp_path / "nowhere"), "--decisions", str(bad)]) == 1
    assert "neither match nor non_match" in capsys.readouterr().err
