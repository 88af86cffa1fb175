"""A system with faults (fault_rate 0.05) through `carebridge run`: every row is accounted for, and
the warehouse holds the truth minus exactly what the truth says a correct pipeline quarantines."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file (pytest runs in importlib mode)
from e2e_compare import (  # noqa: E402
    assert_linkage, assert_same_rows, counts, linkage_figures, question_rows, rows, service_counts,
)
from e2e_questions import EXPECTED, KEYS, expected_answer  # noqa: E402

from carebridge.staging import reconcile  # noqa: E402
from warehouse.db import query, read_table  # noqa: E402

pytestmark = pytest.mark.e2e


def test_a_run_whose_only_problems_are_quarantined_rows_exits_0_and_says_how_many(faulty_system, faulty_engine,
                                                                                figure):
    cli = faulty_system.json("cli.json")
    assert cli["exit_code"] == 0, cli["stderr"][-2000:]
    quarantined = query(faulty_engine, "SELECT COUNT(*) AS n FROM audit.quarantine "
                                       "WHERE source_line > 0")["n"][0].as_py()
    printed = re.search(r"quarantined rows: ([\d,]+)", cli["stdout"])
    assert printed and int(printed.group(1).replace(",", "")) == quarantined > 0
    assert "nanobind" not in cli["stderr"]
    figure("faulty system: rows quarantined", quarantined)


def _data_rows(path: Path) -> int:
    """Data rows in a landing file, counted without staging: Parquet row count, or CSV lines after
    the header (a cut last line without a line end still counts; the encoding does not matter)."""
    if path.suffix == ".parquet":
        return pq.ParquetFile(path).metadata.num_rows
    lines = [line for line in path.read_bytes().split(b"\n") if line.strip()]
    return max(len(lines) - 1, 0)


def test_every_landing_file_is_audited_and_every_row_is_accounted_for(faulty_system, faulty_engine):
    audit = read_table(faulty_engine, "audit", "load_audit")
    assert reconcile(audit) == []
    landing = faulty_system.landing
    files = {str(p.relative_to(landing)): p for source in ("gp", "mhsds", "talking_therapies", "vcse")
             for p in (landing / source).rglob("*") if p.is_file()}
    assert set(audit["source_file"].to_pylist()) == set(files)
    assert sum(audit["rows_read"].to_pylist()) == sum(_data_rows(p) for p in files.values())


def test_people_split_by_a_missing_or_invalid_nhs_number_are_reported(faulty_truth, faulty_engine, figure):
    """Records without a valid NHS number (faults, and VCSE records that never had one) whose truth
    person has another record: linked back probabilistically, or split off as people of their own."""
    figures = linkage_figures(faulty_truth, faulty_engine)
    assert_linkage(figures)
    # every NHS number fault on a person with another record is one of them (VCSE records add those sent without)
    (faulted,), = faulty_truth.sql("""
        SELECT COUNT(*) FROM t_faults AS f JOIN t_records AS r USING (source, provider_ods, "table", local_id)
        WHERE f.kind IN ('invalid_nhs_number', 'missing_nhs_number')
          AND r.person_id IN (SELECT person_id FROM t_records GROUP BY person_id HAVING COUNT(*) > 1)""").fetchall()
    assert figures["candidates"] >= faulted > 0
    for name in ("candidates", "linked_back", "split_people", "unlinked_records", "extra_people"):
        figure(f"faulty system: {name}", figures[name])


def test_the_person_index_puts_every_record_on_the_truths_person(faulty_truth, faulty_engine):
    got = query(faulty_engine, "SELECT source, provider_ods, local_patient_id AS local_id, person_id "
                               "FROM linkage.person_index").to_pylist()
    expected = rows(faulty_truth, "SELECT source, provider_ods, local_id, pp_id AS person_id FROM pp")
    assert_same_rows(expected, got, ("source", "provider_ods", "local_id"))


def test_referral_counts_are_the_truths_minus_the_quarantined(faulty_truth, faulty_engine, figure):
    (lost,), = faulty_truth.sql("""SELECT COUNT(*) FROM lost
                                   WHERE "table" IN ('MHS101Referral', 'IDS101Referral', 'referral')""").fetchall()
    assert lost > 0                                                  # discharge_before_receipt
    assert service_counts(faulty_engine, "referral") == counts(rows(faulty_truth, """
        SELECT service_ods AS provider_ods, service_code AS service_type_code, COUNT(*) AS n
        FROM e_referral GROUP BY ALL"""))
    figure("faulty system: referral records quarantined", lost)


def test_contact_counts_are_the_truths_minus_the_quarantined(faulty_truth, faulty_engine):
    """Contacts of a quarantined referral stay (their own record is fine) but have no service."""
    assert service_counts(faulty_engine, "contact") == counts(rows(faulty_truth, """
        SELECT CASE WHEN service_code IS NOT NULL THEN provider_ods END AS provider_ods,
               service_code AS service_type_code, COUNT(*) AS n FROM e_contact GROUP BY ALL"""))
    got = query(faulty_engine, "SELECT contact_key, referral_key, contact_date, attended, did_not_attend "
                               "FROM analytics.contact")
    expected = rows(faulty_truth, """SELECT contact_key, referral_key, contact_date,
                                            attendance = 'attended' AS attended,
                                            attendance = 'did_not_attend' AS did_not_attend FROM e_contact""")
    assert_same_rows(expected, got.to_pylist(), ("contact_key",))


def test_care_plan_and_outcome_counts_are_the_truths_minus_the_quarantined(faulty_truth, faulty_engine):
    got = query(faulty_engine, "SELECT care_plan_key, plan_type, is_crisis_plan, created_date FROM analytics.care_plan")
    expected = rows(faulty_truth, "SELECT care_plan_key, plan_type, is_crisis_plan, created_date FROM e_care_plan")
    assert_same_rows(expected, got.to_pylist(), ("care_plan_key",))
    by_measure = service_counts(faulty_engine, "outcome", by="s.service_type_code || '/' || x.measure")
    assert by_measure == counts(rows(faulty_truth, """
        SELECT service_ods AS provider_ods, service_code || '/' || measure AS service_type_code, COUNT(*) AS n
        FROM e_outcome GROUP BY ALL"""))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_question_gives_the_truths_answer_despite_the_faults(name, faulty_truth, faulty_engine):
    assert_same_rows(expected_answer(faulty_truth, name), question_rows(faulty_engine, name), KEYS[name])
