"""Disclosure control (pure, over Arrow) and the published tables built from a small warehouse."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))  # shared helpers beside this file (pytest runs in importlib mode)
from test_marts_support import (
    build, contact, patient, received, score, table,
)
from warehouse.db import query
from warehouse.publish import SUPPRESSED, apply_disclosure, as_text, published_specs, wilson_interval

PUBLISHED_COLUMNS = {
    "activity_by_service_month": ["month", "provider", "service_type", "people", "referrals", "contacts", "dna_rate"],
    "waits_by_service": ["service_type", "period", "wait_measure", "standard_days", "referrals", "median_wait_days",
                         "pct_within_standard", "target_pct"],
    "outcomes_by_group": ["service_type", "measure", "group_dimension", "group_value", "finished", "recovered",
                          "recovery_rate", "reliable_improvement_rate", "reliable_recovery_rate",
                          "reliable_deterioration_rate", "recovery_rate_ci_low", "recovery_rate_ci_high",
                          "reliable_improvement_rate_ci_low", "reliable_improvement_rate_ci_high",
                          "reliable_recovery_rate_ci_low", "reliable_recovery_rate_ci_high"],
    "pathways": ["from_setting", "to_setting", "transition", "people", "median_days_between", "pct_seen"],
    "activity_by_group": ["financial_year", "setting", "service_type", "group_dimension", "group_value", "people",
                          "referrals", "contacts", "dna_rate"],
    "waits_by_group": ["service_type", "wait_measure", "standard_days", "target_pct", "group_dimension", "group_value",
                       "referrals", "median_wait_days", "pct_within_standard"],
    "pathways_by_group": ["from_setting", "to_setting", "transition", "group_dimension", "group_value", "people",
                          "pct_seen"],
    "social_prescribing_needs": ["need_domain", "group_dimension", "group_value", "referrals", "people", "seen",
                                 "pct_seen"],
    "social_prescribing_wellbeing": ["measure", "group_dimension", "group_value", "paired", "improved", "deteriorated",
                                     "pct_improved", "mean_first", "mean_last", "mean_change"],
    "data_quality_staging": ["source", "table_name", "files", "files_rejected", "rows_read", "rows_staged",
                             "rows_quarantined", "rows_superseded"],
    "data_quality_quarantine": ["source", "table_name", "reason_code", "rows"],
    "data_quality_linkage": ["measure", "value"],
    "access_by_place": ["measure", "unit", "period_start", "period_end", "geography_level", "geography_code",
                        "geography_name", "parent_code", "registered_population", "numerator", "rate_per_100000"],
    "access_by_group": ["measure", "unit", "period_start", "period_end", "group_dimension", "group_value",
                        "registered_population", "numerator", "rate_per_100000"],
}
# Built from the pipeline's own records (staging's load audit, quarantine, the linkage figures).
DATA_QUALITY = ("data_quality_staging", "data_quality_quarantine", "data_quality_linkage")


def test_counts_below_threshold_are_suppressed_and_the_rest_rounded_to_five():
    counts = pa.table({"n": [0, 1, 4, 5, 6, 7, 8, 12, 13, 100, None]})
    result = apply_disclosure(counts, ["n"], {})
    assert result.column("n").to_pylist() == [None, None, None, 5, 5, 5, 10, 10, 15, 100, None]


def test_proportions_use_the_rounded_counts_and_are_suppressed_with_them():
    t = pa.table({"num": [7, 4, 5, 13, 0], "den": [9, 20, 4, 58, 30]})
    result = apply_disclosure(t, ["num", "den"], {"rate": ("num", "den")})
    # 5/10 (never 7/9, which would give the exact counts away) and 15/60 (not 13/58); 4 < 5 and
    # 4 < 5 suppress; 0 is below the threshold too
    assert result.column("rate").to_pylist() == [50.0, None, None, 25.0, None]
    assert result.column("num").to_pylist() == [5, None, 5, 15, None]


def test_a_hidden_numerator_is_rounded_before_its_rate_is_computed():
    # The numerator is not published, but the rate still comes from its rounded value: 12/47 -> 10/45.
    result = apply_disclosure(pa.table({"num": [12], "den": [47]}), ["den"], {"rate": ("num", "den")})
    assert result.column("rate").to_pylist() == [22.2] and result.column("den").to_pylist() == [45]


def test_statistics_are_suppressed_with_their_base_count():
    t = pa.table({"median": [12.25, 30.0], "n": [5, 4]})
    result = apply_disclosure(t, [], {}, statistic_specs={"median": "n"})
    assert result.column("median").to_pylist() == [12.3, None]


def _wilson(numerators: list, denominators: list) -> list[tuple]:
    low, high = wilson_interval(pa.array(numerators, pa.int64()), pa.array(denominators, pa.int64()))
    return list(zip(low.to_pylist(), high.to_pylist()))


def test_wilson_interval_matches_known_values():
    # 50/100: 40.4-59.6; 0/10 and 10/10 keep to 0-100 (one-sided); 1/2 and 6/7 from published tables
    # of the Wilson interval; 3/0 and an unknown part have no interval.
    assert _wilson([50, 0, 10, 1, 6, 3, None], [100, 10, 10, 2, 7, 0, 5]) == [
        (40.4, 59.6), (0.0, 27.8), (72.2, 100.0), (9.5, 90.5), (48.7, 97.4), (None, None), (None, None)]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5000), st.data())
def test_wilson_interval_holds_the_proportion_within_0_and_100(n, data):
    x = data.draw(st.integers(0, n))
    ((low, high),) = _wilson([x], [n])
    assert 0.0 <= low <= round(100 * x / n, 1) <= high <= 100.0


def test_intervals_are_suppressed_exactly_when_their_rate_is():
    t = pa.table({"num": [50, 4, 5, 7, 0], "den": [100, 100, 4, 9, 30]})
    result = apply_disclosure(t, ["num"], {"rate": ("num", "den")}, interval_specs={"rate": ("num", "den")})
    assert result.column("rate").to_pylist() == [50.0, None, None, 50.0, None]      # 7/9 as 5/10
    assert list(zip(result["rate_ci_low"].to_pylist(), result["rate_ci_high"].to_pylist())) == [
        (40.4, 59.6), (None, None), (None, None), _wilson([5], [10])[0], (None, None)]
    # Under a rule of 8, 7/9 is suppressed too, rate and interval alike.
    stricter = apply_disclosure(t, ["num"], {"rate": ("num", "den")}, threshold=8, interval_specs={"rate": ("num", "den")})
    assert [stricter[c][3].as_py() for c in ("rate", "rate_ci_low", "rate_ci_high")] == [None, None, None]


def test_an_interval_must_share_its_proportions_parts():
    from warehouse.publish import _spec

    declared = {"columns": ["r"], "counts": [], "proportions": {"r": ["a", "b"]}, "intervals": {"r": ["a", "c"]}}
    with pytest.raises(ValueError, match="interval r"):
        _spec("t", declared)
    assert _spec("t", {**declared, "intervals": {"r": ["a", "b"]}}).controlled == ("r", "r_ci_low", "r_ci_high")


def test_threshold_and_rounding_are_configurable():
    t = pa.table({"n": [7, 8, 24]})
    assert apply_disclosure(t, ["n"], {}, threshold=8, rounding=10).column("n").to_pylist() == [None, 10, 20]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=100_000), min_size=1, max_size=50))
def test_no_published_count_is_small_and_every_count_is_a_multiple_of_five(values):
    result = apply_disclosure(pa.table({"n": values}), ["n"], {}).column("n").to_pylist()
    for before, after in zip(values, result):
        if before < 5:
            assert after is None
        else:
            assert after % 5 == 0 and after >= 5 and abs(after - before) <= 2.5


def test_as_text_shows_suppressed_values_as_a_star():
    t = apply_disclosure(pa.table({"g": ["a", "b"], "n": [3, 9]}), ["n"], {})
    assert as_text(t, ["n"]).to_pylist() == [{"g": "a", "n": SUPPRESSED}, {"g": "b", "n": "10"}]


def test_published_specs_declare_the_contract_columns():
    assert {name: list(spec.columns) for name, spec in published_specs().items()} == PUBLISHED_COLUMNS


def _cmht_caseload() -> dict:
    """7 people referred to a CMHT in January: 6 seen twice in January with a DNA each and PHQ-9
    15 -> 5; one seen once in January and once in February, PHQ-9 15 -> 12."""
    people = [f"p{i}" for i in range(1, 8)]
    views: dict[str, list] = {"v_patient": [patient(p) for p in people], "v_service_request": [],
                              "v_encounter": [], "v_observation": []}
    for i, p in enumerate(people, start=1):
        sid = f"m{i}"
        last_visit, last_score = ("2025-01-20", 5) if i < 7 else ("2025-02-15", 12)
        views["v_service_request"].append(received(sid, p, "2025-01-01", "CMHT", source="A1"))
        views["v_encounter"] += [contact(f"{sid}-a", p, sid, "2025-01-10", "CMHT"),
                                 contact(f"{sid}-b", p, sid, last_visit, "CMHT")]
        if i < 7:
            views["v_encounter"].append(contact(f"{sid}-d", p, sid, "2025-01-15", "CMHT", "did_not_attend"))
        views["v_observation"] += [score(f"{sid}-o1", p, sid, "2025-01-10", "720433000", 15),
                                   score(f"{sid}-o2", p, sid, last_visit, "720433000", last_score)]
    return views


def test_published_tables_apply_disclosure_control(engine):
    from warehouse.db import ensure_schemas, execute, table_exists

    ensure_schemas(engine)
    execute(engine, "CREATE TABLE published.data_quality_linkage AS SELECT 'records' AS measure, 3 AS value")
    counts = build(engine, publish=True, **_cmht_caseload())
    # No staging or linkage run wrote this warehouse: the data quality tables are not built, and an
    # earlier one is dropped rather than left stale.
    assert set(counts) >= set(PUBLISHED_COLUMNS) - set(DATA_QUALITY) and not set(counts) & set(DATA_QUALITY)
    assert not any(table_exists(engine, "published", name) for name in DATA_QUALITY)
    activity = table(engine, "published", "activity_by_service_month", "month")
    assert activity == [
        # 7 people, 7 referrals, 13 contacts. February's single contact is suppressed, and the
        # financial year's total (activity_by_group) would give it away by subtraction, so January's
        # contacts are suppressed too (secondary suppression across tables sharing that margin), and
        # with them the DNA rate, whose denominator (appointments) is in the same position.
        {"month": "2025-01", "provider": "RZZ", "service_type": "A06", "people": 5, "referrals": 5, "contacts": None,
         "dna_rate": None},
        {"month": "2025-02", "provider": "RZZ", "service_type": "A06", "people": None, "referrals": None,
         "contacts": None, "dna_rate": None},
    ]
    spec = published_specs()["activity_by_service_month"]
    february = as_text(query(engine, "SELECT * FROM published.activity_by_service_month WHERE month = '2025-02'"),
                       spec.controlled).to_pylist()
    assert february == [{"month": "2025-02", "provider": "RZZ", "service_type": "A06", "people": "*",
                         "referrals": "*", "contacts": "*", "dna_rate": "*"}]
    waits = table(engine, "published", "waits_by_service", "period")
    assert [(w["period"], w["wait_measure"], w["standard_days"], w["referrals"], w["median_wait_days"],
             w["pct_within_standard"], w["target_pct"]) for w in waits] == [
        # Six referrals in January, all within 4 weeks, one in February: suppressed, and January with
        # it, as waits_by_group's `all` row is their sum (the 4-week standard has no target).
        ("2025-01", "second_contact", 28, None, None, None, None),
        ("2025-02", "second_contact", 28, None, None, None, None),
    ]
    (overall_wait,) = [w for w in table(engine, "published", "waits_by_group") if w["group_dimension"] == "all"]
    assert (overall_wait["referrals"], overall_wait["median_wait_days"]) == (5, 19.0)
    outcomes = {(o["measure"], o["group_dimension"], o["group_value"]): o
                for o in table(engine, "published", "outcomes_by_group")}
    overall = outcomes[("PHQ9", "all", "all")]
    assert (overall["finished"], overall["recovered"]) == (5, 5)
    # 6 / 7 from the rounded counts is 5 / 5 (6 / 7 = 85.7% would give both counts away exactly)
    assert overall["recovery_rate"] == overall["reliable_improvement_rate"] == 100.0
    assert overall["reliable_recovery_rate"] == 100.0
    assert overall["reliable_deterioration_rate"] is None                                # 0 / 7: suppressed
    for rate in ("recovery_rate", "reliable_improvement_rate", "reliable_recovery_rate"):
        assert (overall[f"{rate}_ci_low"], overall[f"{rate}_ci_high"]) == (56.6, 100.0)  # Wilson 5 / 5
    assert outcomes[("PHQ9", "sex", "female")]["finished"] == 5
    (pathway,) = table(engine, "published", "pathways")
    assert pathway == {"from_setting": "primary", "to_setting": "secondary", "transition": "first_referral",
                       "people": 5, "median_days_between": None, "pct_seen": 100.0}
    for name, columns in PUBLISHED_COLUMNS.items():
        if name in DATA_QUALITY or name.startswith("social_prescribing"):    # nobody here was referred to one
            continue
        published = table(engine, "published", name)
        assert published and list(published[0]) == columns, name
        for row in published:
            for column in published_specs()[name].counts:
                assert row[column] is None or (row[column] >= 5 and row[column] % 5 == 0), (name, row)


def test_the_suites_contract_lists_the_published_columns():
    from expectations.config import contract_columns

    for name, spec in published_specs().items():
        assert list(contract_columns("published", name)) == list(spec.columns), name
