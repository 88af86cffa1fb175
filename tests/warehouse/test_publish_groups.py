"""The published tables added for equality slicing, social prescribing and data quality, built from a
small hand-made warehouse on DuckDB and PostgreSQL, and the linkage figures' tidy table.

The world (every person born 1990-06-15, so age band 26-35 throughout):
  f1-f6  female, White, LSOA of IMD decile 1 (quintile 1): referred by their GP to the CMHT on
         2025-03-20; seen 2025-03-25 and 2025-04-10 (a DNA between), so the financial year turns.
  m1-m2  male, Asian, no LSOA (quintile unknown): GP -> CMHT 2025-04-02, seen 2025-04-05 and 04-20.
  e1-e6  female, White: GP -> early intervention in psychosis 2025-05-01; e1-e5 first seen 7 days
         later, e6 after 29 days.
  s1-s6  female, White: GP -> social prescribing 2025-06-02; s1-s5 for isolation and housing, seen
         twice, SWEMWBS raw 14 -> 21 (metric 15.32 -> 19.25) and ONS4 life satisfaction 4 -> 7;
         s6 with no recognised need and never seen.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # shared helpers beside this file (pytest runs in importlib mode)
from test_marts_support import BACKENDS, build, contact, gp_referral, patient, received, score, table

from carebridge.linkage import LINKAGE_SUMMARY_SCHEMA, summary_table
from carebridge.staging import LOAD_AUDIT_SCHEMA, QUARANTINE_SCHEMA
from warehouse.build import build_marts, build_published
from warehouse.db import ensure_schemas, make_engine, read_table, write_table
from warehouse.publish import published_specs

MEASURE = "https://fhir.carebridge.org.uk/CodeSystem/measure"
BORN = "1990-06-15"
GROUP_TABLES = ("activity_by_group", "waits_by_group", "pathways_by_group", "social_prescribing_needs",
                "social_prescribing_wellbeing")
DIMENSIONS = {"all", "age_band", "sex", "ethnic_group", "imd_quintile"}


def _referred(pid: str, to: str, day: str, **extra) -> list[dict]:
    """A GP referral and the receiving service's record of it."""
    return [gp_referral(f"g-{pid}", pid, day, to), received(f"r-{pid}", pid, day, to, based_on=f"g-{pid}",
                                                            source="gp" if to == "SP" else "A1", **extra)]


def world() -> dict[str, list[dict]]:
    views: dict[str, list[dict]] = {"v_patient": [], "v_service_request": [], "v_encounter": [], "v_observation": []}
    for i in range(1, 7):
        pid = f"f{i}"
        views["v_patient"].append(patient(pid, BORN, "female", "A", "E01900001"))
        views["v_service_request"] += _referred(pid, "CMHT", "2025-03-20")
        views["v_encounter"] += [contact(f"{pid}-a", pid, f"r-{pid}", "2025-03-25", "CMHT"),
                                 contact(f"{pid}-d", pid, f"r-{pid}", "2025-03-28", "CMHT", "did_not_attend"),
                                 contact(f"{pid}-b", pid, f"r-{pid}", "2025-04-10", "CMHT")]
    for i in range(1, 3):
        pid = f"m{i}"
        views["v_patient"].append(patient(pid, BORN, "male", "H", None))
        views["v_service_request"] += _referred(pid, "CMHT", "2025-04-02")
        views["v_encounter"] += [contact(f"{pid}-a", pid, f"r-{pid}", "2025-04-05", "CMHT"),
                                 contact(f"{pid}-b", pid, f"r-{pid}", "2025-04-20", "CMHT")]
    for i in range(1, 7):
        pid = f"e{i}"
        views["v_patient"].append(patient(pid, BORN, "female", "A", "E01900001"))
        views["v_service_request"] += _referred(pid, "EIP", "2025-05-01")
        views["v_encounter"].append(contact(f"{pid}-a", pid, f"r-{pid}", "2025-05-08" if i < 6 else "2025-05-30", "EIP"))
    for i in range(1, 7):
        pid, sid = f"s{i}", f"r-s{i}"
        views["v_patient"].append(patient(pid, BORN, "female", "A", "E01900001"))
        views["v_service_request"] += _referred(pid, "SP", "2025-06-02",
                                                reason_code="isolation;housing" if i < 6 else None)
        if i < 6:
            views["v_encounter"] += [contact(f"{pid}-a", pid, sid, "2025-06-09", "SP"),
                                     contact(f"{pid}-b", pid, sid, "2025-07-07", "SP")]
            views["v_observation"] += [
                score(f"{pid}-w1", pid, sid, "2025-06-09", "SWEMWBS", 14, system=MEASURE, item="total"),
                score(f"{pid}-w2", pid, sid, "2025-07-07", "SWEMWBS", 21, system=MEASURE, item="total"),
                score(f"{pid}-l1", pid, sid, "2025-06-09", "ONS4", 4, system=MEASURE, item="life_satisfaction"),
                score(f"{pid}-l2", pid, sid, "2025-07-07", "ONS4", 7, system=MEASURE, item="life_satisfaction")]
    return views


def _audit(rows: list[tuple]) -> pa.Table:
    """load_audit rows as (source, table, status, read, staged, quarantined, superseded)."""
    return pa.Table.from_pylist([
        {"source": s, "provider_ods": "Z90001", "reporting_month": "2025-04", "submission_id": f"sub{i}",
         "source_file": f"{s}/{t}/{i}.csv", "table_name": t, "encoding": "utf-8", "rows_read": read,
         "rows_staged": staged, "rows_quarantined": quarantined, "rows_superseded": superseded, "file_status": status}
        for i, (s, t, status, read, staged, quarantined, superseded) in enumerate(rows)], schema=LOAD_AUDIT_SCHEMA)


def _quarantine(rows: list[tuple]) -> pa.Table:
    """quarantine rows as (source, table, line, reason)."""
    return pa.Table.from_pylist([
        {"source": s, "provider_ods": "Z90001", "reporting_month": "2025-04", "source_file": f"{s}/{t}.csv",
         "source_line": line, "table_name": t, "reason_code": reason, "raw_row": "..."}
        for s, t, line, reason in rows], schema=QUARANTINE_SCHEMA)


LINKAGE = {"records": 1234, "persons": 1000, "records_linked_on_nhs_number": 1100,
           "records_linked_probabilistically": 100, "records_unlinked": 34, "clusters_of_several_records": 202,
           "pairs_compared": 5000, "reviews": 7, "reviews_shared_nhs_number": 4, "reviews_nhs_number_conflict": 3,
           "reviews_ambiguous_match": 0}


def write_pipeline_records(engine) -> None:
    """What staging and linkage leave in `audit` and `linkage` for the data quality tables."""
    write_table(engine, "audit", "load_audit", _audit(
        [("gp", "patient", "loaded", 100, 90, 8, 2)] * 5 + [("gp", "patient", "rejected", 12, 0, 0, 0)]
        + [("vcse", "referral", "loaded", 3, 3, 0, 0)] * 2))
    write_table(engine, "audit", "quarantine", _quarantine(
        [("gp", "patient", line, "duplicate_row") for line in range(1, 8)]
        + [("gp", "patient", line, "invalid_nhs_number") for line in range(8, 11)]
        + [("gp", "patient", 0, "missing_required_column")]))           # the header row of a rejected file
    write_table(engine, "linkage", "linkage_summary", summary_table("run-1", LINKAGE))


@pytest.fixture(scope="module", params=BACKENDS)
def warehouse(request, warehouse_for):
    """Built once per backend: the tests only read it."""
    engine = make_engine(warehouse_for(request.param))
    ensure_schemas(engine)
    build(engine, **world())
    write_pipeline_records(engine)
    build_marts(engine)  # again: the data quality inputs (analytics.staging_file, ...) copy the records
    counts = build_published(engine)
    assert set(counts) == set(published_specs())
    yield engine
    engine.dispose()


def _by_group(engine, name: str, *keys: str) -> dict[tuple, dict]:
    return {tuple(r[k] for k in (*keys, "group_dimension", "group_value")): r for r in table(engine, "published", name)}


def test_activity_by_group_counts_each_financial_year_and_protects_its_totals(warehouse):
    rows = _by_group(warehouse, "activity_by_group", "financial_year", "setting", "service_type")

    def row(year: str, dimension: str, value: str) -> tuple:
        r = rows[(year, "secondary", "A06", dimension, value)]
        return r["people"], r["referrals"], r["contacts"], r["dna_rate"]

    # 2024-25 (to 31 March): six women referred and seen once, six DNAs: 6 / (6 + 6).
    assert row("2024-25", "all", "all") == (5, 5, 5, 50.0)
    assert row("2024-25", "sex", "female") == (5, 5, 5, 50.0)
    assert ("2024-25", "secondary", "A06", "sex", "male") not in rows
    # 2025-26: 8 people seen (6 women once, 2 men twice), 2 referrals (the men), 10 contacts, no DNAs.
    # The men are suppressed, and the women with them (secondary suppression: the total minus the
    # women would give the men away); likewise IMD quintile 1 beside the unknown quintile.
    assert row("2025-26", "sex", "female") == (None, None, None, None)
    assert row("2025-26", "sex", "male") == (None, None, None, None)
    assert row("2025-26", "age_band", "26-35") == (10, None, 10, None)
    assert row("2025-26", "imd_quintile", "1") == (None, None, None, None)
    assert row("2025-26", "imd_quintile", "unknown") == (None, None, None, None)
    assert row("2025-26", "ethnic_group", "Asian") == (None, None, None, None)
    # The total is the rounded true total (8 people -> 10), protected like a part.
    assert row("2025-26", "all", "all") == (10, None, 10, None)
    # s1-s6 (6 referrals) in June; activity_by_service_month has a July row with 0 referrals
    # (suppressed), which June and this total would give away: so this total is suppressed too.
    assert rows[("2025-26", "vcse", "SP", "all", "all")]["referrals"] is None


def test_waits_by_group_covers_the_whole_period_with_the_standards_target(warehouse):
    rows = _by_group(warehouse, "waits_by_group", "service_type", "wait_measure", "standard_days")

    def row(key: tuple) -> tuple:
        r = rows[key]
        return r["target_pct"], r["referrals"], r["median_wait_days"], r["pct_within_standard"]

    # CMHT, 4 weeks to the second contact (no target): six waits of 21 days, two of 18.
    assert row(("A06", "second_contact", 28, "all", "all")) == (None, 10, 21.0, 100.0)
    assert row(("A06", "second_contact", 28, "sex", "female")) == (None, None, None, None)  # protects the men
    assert row(("A06", "second_contact", 28, "sex", "male")) == (None, None, None, None)
    # EIP, 2 weeks to the first contact, 60% target: 5 of 6 within, published from the rounded
    # counts as 5 of 5 (83.3% would give both counts away).
    assert row(("A14", "first_contact", 14, "all", "all")) == (60.0, 5, 7.0, 100.0)
    assert row(("A14", "first_contact", 14, "ethnic_group", "White")) == (60.0, 5, 7.0, 100.0)
    waits = {(w["service_type"], w["period"]): w["target_pct"] for w in table(warehouse, "published", "waits_by_service")}
    assert waits[("A14", "2025-05")] == 60.0 and waits[("A06", "2025-04")] is None


def test_pathways_by_group(warehouse):
    rows = _by_group(warehouse, "pathways_by_group", "from_setting", "to_setting", "transition")
    gp_to_secondary = ("primary", "secondary", "first_referral")
    assert {k[3] for k in rows} == DIMENSIONS
    # 14 people (12 women, 2 men) referred by their GP to secondary care, all seen.
    assert (rows[(*gp_to_secondary, "sex", "female")]["people"], rows[(*gp_to_secondary, "sex", "female")]["pct_seen"]) \
        == (None, None)                                                    # suppressed to protect the men
    assert (rows[(*gp_to_secondary, "sex", "male")]["people"], rows[(*gp_to_secondary, "sex", "male")]["pct_seen"]) \
        == (None, None)
    assert rows[(*gp_to_secondary, "age_band", "26-35")]["people"] == 15
    assert (rows[(*gp_to_secondary, "all", "all")]["people"], rows[(*gp_to_secondary, "all", "all")]["pct_seen"]) \
        == (15, 100.0)
    # s6 was never seen: 5 of 6 moves to social prescribing, published from the rounded counts (5 / 5).
    assert rows[("primary", "vcse", "first_referral", "all", "all")]["pct_seen"] == 100.0


def test_social_prescribing_needs_count_a_referral_under_each_need(warehouse):
    rows = _by_group(warehouse, "social_prescribing_needs", "need_domain")
    for need in ("isolation", "housing"):
        r = rows[(need, "all", "all")]
        assert (r["referrals"], r["people"], r["seen"], r["pct_seen"]) == (5, 5, 5, 100.0)
        assert rows[(need, "sex", "female")]["referrals"] == 5
    unknown = rows[("unknown", "all", "all")]                          # s6: no recognised need, not seen
    assert (unknown["referrals"], unknown["people"], unknown["seen"], unknown["pct_seen"]) == (None, None, None, None)
    assert {k[0] for k in rows} == {"isolation", "housing", "unknown"}


def test_social_prescribing_wellbeing_pairs_first_and_latest_scores(warehouse):
    rows = _by_group(warehouse, "social_prescribing_wellbeing", "measure")
    swemwbs = rows[("SWEMWBS", "all", "all")]
    assert (swemwbs["paired"], swemwbs["improved"], swemwbs["deteriorated"], swemwbs["pct_improved"]) == (5, 5, None, 100.0)
    assert (swemwbs["mean_first"], swemwbs["mean_last"], swemwbs["mean_change"]) == (15.3, 19.3, 3.9)
    life = rows[("ONS4_LIFE_SATISFACTION", "imd_quintile", "1")]     # no reliable-change amount: none improved
    assert (life["paired"], life["improved"], life["pct_improved"]) == (5, None, None)
    assert (life["mean_first"], life["mean_last"], life["mean_change"]) == (4.0, 7.0, 3.0)
    assert {k[0] for k in rows} == {"SWEMWBS", "ONS4_LIFE_SATISFACTION"}


def test_data_quality_tables_are_disclosure_controlled_counts(warehouse):
    staging = table(warehouse, "published", "data_quality_staging")
    assert staging == [
        {"source": "gp", "table_name": "patient", "files": 5, "files_rejected": None, "rows_read": 510,
         "rows_staged": 450, "rows_quarantined": 40, "rows_superseded": 10},
        {"source": "vcse", "table_name": "referral", "files": None, "files_rejected": None, "rows_read": 5,
         "rows_staged": 5, "rows_quarantined": None, "rows_superseded": None},
    ]
    quarantine = table(warehouse, "published", "data_quality_quarantine")
    assert quarantine == [   # data rows only: a rejected file's header row is counted as a rejected file
        {"source": "gp", "table_name": "patient", "reason_code": "duplicate_row", "rows": 5},
        {"source": "gp", "table_name": "patient", "reason_code": "invalid_nhs_number", "rows": None},
    ]
    linkage = [(r["measure"], r["value"]) for r in table(warehouse, "published", "data_quality_linkage")]
    assert linkage == [("records", 1235), ("records_linked_on_nhs_number", 1100),
                       ("records_linked_probabilistically", 100), ("records_unlinked", 35), ("persons", 1000),
                       ("clusters_of_several_records", 200), ("reviews", 5), ("reviews_ambiguous_match", None),
                       ("reviews_nhs_number_conflict", None), ("reviews_shared_nhs_number", None)]


@pytest.mark.parametrize("name", GROUP_TABLES)
def test_every_group_table_slices_by_every_dimension_and_controls_its_counts(warehouse, name):
    spec = published_specs()[name]
    rows = table(warehouse, "published", name)
    assert list(rows[0]) == list(spec.columns)
    assert {r["group_dimension"] for r in rows} == DIMENSIONS
    assert all(r["group_value"] == "all" for r in rows if r["group_dimension"] == "all")
    for row in rows:
        for column in spec.counts:
            assert row[column] is None or (row[column] >= 5 and row[column] % 5 == 0), (name, column)
        for proportion in spec.proportions:
            assert row[proportion] is None or 0 <= row[proportion] <= 100


def test_linkage_summary_table_is_one_row_per_figure_in_order():
    tidy = summary_table("run-9", {"records": 3, "persons": 2, "reviews_shared_nhs_number": 0})
    assert tidy.schema == LINKAGE_SUMMARY_SCHEMA
    assert tidy.to_pylist() == [{"run_id": "run-9", "measure": "records", "value": 3},
                                {"run_id": "run-9", "measure": "persons", "value": 2},
                                {"run_id": "run-9", "measure": "reviews_shared_nhs_number", "value": 0}]
    assert summary_table("run-9", {}).num_rows == 0


@pytest.mark.parametrize("name", sorted(published_specs()))
def test_every_published_table_passes_its_suite(warehouse, name):
    from expectations.runner import validate_table

    result = validate_table("published", name, read_table(warehouse, "published", name))
    assert result.passed_errors and result.warnings == 0, result.to_metadata()["failures"]


def test_the_suites_catch_small_or_unrounded_counts_and_bad_groups():
    from expectations.runner import validate_table

    def needs(referrals: list, group_value: str = "1") -> pa.Table:
        n = len(referrals)
        return pa.table({"need_domain": [f"d{i}" for i in range(n)], "group_dimension": ["imd_quintile"] * n,
                         "group_value": [group_value] * n, "referrals": pa.array(referrals, pa.int64()),
                         "people": pa.array([None] * n, pa.int64()), "seen": pa.array([None] * n, pa.int64()),
                         "pct_seen": pa.array([None] * n, pa.float64())})

    assert validate_table("published", "social_prescribing_needs", needs([5, None, 120])).passed_errors
    for bad, column in ((needs([3]), "referrals"), (needs([12]), "referrals"), (needs([5], "7"), "group_value")):
        result = validate_table("published", "social_prescribing_needs", bad)
        assert not result.passed_errors
        assert {r.column for r in result.results if not r.success} == {column}
    linkage = pa.table({"measure": ["records", "persons"], "value": pa.array([1234, 1000], pa.int64())})
    failed = [r for r in validate_table("published", "data_quality_linkage", linkage).results if not r.success]
    assert [(r.column, r.check) for r in failed] == [("value", "multiple of 5")]
