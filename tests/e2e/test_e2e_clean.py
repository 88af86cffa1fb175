"""A system without faults through the real Dagster jobs: the warehouse holds exactly the truth.

Every comparison is against expectations computed from the truth files (e2e_truth, e2e_questions),
accounting for the one designed gap: VCSE person records lack an NHS number for about 40% of
records. Linked back probabilistically, they change nothing; left on their own, they are people of
their own and a GP's referral to the VCSE cannot be matched to the VCSE's record of it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file (pytest runs in importlib mode)
from e2e_compare import (  # noqa: E402
    assert_linkage, assert_same_rows, counts, linkage_figures, question_rows, rows, service_counts,
)
from e2e_questions import EXPECTED, KEYS, expected_answer  # noqa: E402
from e2e_truth import person_key  # noqa: E402

from carebridge.core.ids import person_id_for_nhs_number  # noqa: E402
from carebridge.core.keys import load_key  # noqa: E402
from carebridge.core.nhs_number import is_valid  # noqa: E402
from warehouse.db import query  # noqa: E402
from warehouse.questions import get_question  # noqa: E402

pytestmark = pytest.mark.e2e


# --- people ----------------------------------------------------------------------------------

def test_every_person_of_the_truth_is_in_analytics_once_and_objectors_are_absent(clean_system, clean_truth,
                                                                                 clean_engine):
    """person_key re-derived here: HMAC-SHA256 (key file) of carebridge.core.ids.person_id_for_nhs_number."""
    key = load_key(clean_system.key_file)
    truth = clean_truth.sql("SELECT nhs_number, type1_objection FROM t_persons").fetchall()
    keys = {person_key(key, person_id_for_nhs_number(nhs)): objector for nhs, objector in truth}
    analytics = query(clean_engine, "SELECT person_key FROM analytics.person")["person_key"].to_pylist()
    assert len(analytics) == len(set(analytics))                                   # once each
    present = set(analytics)
    assert {k for k, objector in keys.items() if not objector} <= present          # everyone else
    objectors = {k for k, objector in keys.items() if objector}
    assert objectors and not objectors & present                                   # GP type 1 objections


def test_the_person_index_puts_every_record_on_the_truths_person(clean_truth, clean_engine):
    """Record by record: on the NHS number's person, the person the probabilistic pass chose (which
    must hold the same truth person's other records), or a person of its own."""
    got = query(clean_engine, "SELECT source, provider_ods, local_patient_id AS local_id, person_id "
                              "FROM linkage.person_index").to_pylist()
    expected = rows(clean_truth, "SELECT source, provider_ods, local_id, pp_id AS person_id FROM pp")
    assert_same_rows(expected, got, ("source", "provider_ods", "local_id"))


def test_extra_people_are_exactly_those_the_nhs_number_gap_splits(clean_truth, clean_engine, figure):
    """Extra analytics.person rows can only be people split off because their record has no valid
    NHS number: as many as the person index reports without one (none of them objectors here)."""
    figures = linkage_figures(clean_truth, clean_engine)
    assert_linkage(figures)
    assert figures["candidates"] > 0                      # VCSE person records lack NHS numbers by design
    for name in ("candidates", "linked_back", "split_people", "unlinked_records", "extra_people"):
        figure(f"clean system: {name}", figures[name])


def _vcse_people_without_nhs_number(landing: Path) -> set[tuple[str, str]]:
    """(provider, person_id) of VCSE person records whose latest delivered NHS number is not valid,
    read straight from the landing files (CSV or Parquet)."""
    latest: dict[tuple[str, str], tuple[str, str | None]] = {}
    for path in sorted(landing.glob("vcse/*/*/*/person.*")):
        ods, month = path.parts[-4], path.parts[-3]
        text = pacsv.ConvertOptions(column_types={"nhs_number": pa.string(), "person_id": pa.string()})
        table = pq.read_table(path) if path.suffix == ".parquet" else pacsv.read_csv(path, convert_options=text)
        for person_id, nhs in zip(table["person_id"].to_pylist(), table["nhs_number"].to_pylist()):
            if latest.get((ods, person_id), ("",))[0] <= month:
                latest[(ods, person_id)] = (month, nhs)
    return {k for k, (_m, nhs) in latest.items() if not (nhs and is_valid(str(nhs)))}


def test_the_only_records_without_a_valid_nhs_number_are_vcse_ones_as_landed(clean_system, clean_truth):
    invalid = clean_truth.sql("SELECT provider_ods, local_id, source = 'vcse' FROM pp WHERE NOT valid").fetchall()
    assert all(vcse for _ods, _local, vcse in invalid)
    staged_invalid = {(ods, local) for ods, local, _vcse in invalid}
    assert staged_invalid == _vcse_people_without_nhs_number(clean_system.landing)


def test_person_slicing_columns_match_the_truth(clean_truth, clean_engine):
    got = query(clean_engine, "SELECT person_key, birth_year, age_band, sex, ethnic_group, imd_decile, "
                              "gp_practice_ods, pcn_code, smi_register FROM analytics.person")
    expected = rows(clean_truth, """SELECT person_key, CAST(year(birth_date) AS INTEGER) AS birth_year, age_band,
                                           gender AS sex, ethnic_group, imd_decile, gp_practice_ods, pcn_code,
                                           smi_register FROM e_person""")
    assert_same_rows(expected, got.to_pylist(), ("person_key",))


# --- activity --------------------------------------------------------------------------------

def test_referral_counts_per_service_are_the_truths_with_the_split_gp_referrals(clean_truth, clean_engine, figure):
    """outputs.md: one row per referral as the receiving service holds it, plus one per GP referral no
    service received. A GP referral to a VCSE whose person record lacks an NHS number cannot be
    matched (different people until probabilistic linkage): it counts once more, as not received."""
    def per_service(ods: str, where: str) -> dict:
        return counts(rows(clean_truth, f"SELECT {ods} AS provider_ods, service_code AS service_type_code, "
                                        f"COUNT(*) AS n FROM {where} GROUP BY ALL"))

    objectors = "(SELECT person_id FROM t_persons WHERE type1_objection)"
    truth = per_service("target_ods", f"t_referrals WHERE person_id NOT IN {objectors}")
    split = per_service("service_ods", "e_referral WHERE kind = 'gp_unmatched'")
    # an objector's record left on its own (no NHS number) is a person of its own, not excluded
    unexcluded = per_service("service_ods", f"e_referral WHERE person_id IN {objectors}")
    expected = {k: truth.get(k, 0) + split.get(k, 0) + unexcluded.get(k, 0) for k in {*truth, *split, *unexcluded}}
    assert service_counts(clean_engine, "referral") == expected
    assert set(split) <= {k for k in expected if k[1] == "SP"}           # only GP -> VCSE referrals split
    figure("clean system: GP referrals to a VCSE left unmatched by the split", sum(split.values()))


def test_referrals_match_the_truth_row_for_row(clean_truth, clean_engine):
    columns = """status, referred_date, received_date, rejected_date, discharge_date, source_setting, source_code,
                 first_contact_date, second_contact_date, attended_contacts, dna_contacts"""
    got = query(clean_engine, f"""
        SELECT referral_key, provider_ods AS service_ods, service_type_code AS service_code,
               NULLIF(reason_code, '') AS reason, {columns}
        FROM analytics.referral LEFT JOIN analytics.service USING (service_key)""")
    expected = rows(clean_truth, f"SELECT referral_key, service_ods, service_code, reason, {columns} FROM e_ref")
    assert_same_rows(expected, got.to_pylist(), ("referral_key",))


def test_contacts_match_the_truth_row_for_row(clean_truth, clean_engine):
    assert service_counts(clean_engine, "contact") == counts(rows(clean_truth, """
        SELECT provider_ods, service_code AS service_type_code, COUNT(*) AS n FROM e_contact GROUP BY ALL"""))
    got = query(clean_engine, "SELECT contact_key, referral_key, contact_date, mechanism, attended, did_not_attend "
                              "FROM analytics.contact")
    expected = rows(clean_truth, """SELECT contact_key, referral_key, contact_date, mechanism,
                                           attendance = 'attended' AS attended,
                                           attendance = 'did_not_attend' AS did_not_attend FROM e_contact""")
    assert_same_rows(expected, got.to_pylist(), ("contact_key",))


def test_care_plans_match_the_truth_row_for_row(clean_truth, clean_engine):
    assert service_counts(clean_engine, "care_plan") == counts(rows(clean_truth, """
        SELECT service_ods AS provider_ods, service_code AS service_type_code, COUNT(*) AS n
        FROM e_care_plan GROUP BY ALL"""))
    columns = "care_plan_key, plan_type, is_crisis_plan, created_date, goal_count"
    got = query(clean_engine, f"SELECT {columns} FROM analytics.care_plan")
    expected = rows(clean_truth, f"SELECT {columns} FROM e_care_plan")
    assert_same_rows(expected, got.to_pylist(), ("care_plan_key",))


def test_outcomes_match_the_truth_row_for_row(clean_truth, clean_engine):
    columns = """referral_key, measure, first_score, last_score, first_date, last_date, caseness_first, caseness_last,
                 reliable_improvement, recovery, reliable_recovery"""
    got = query(clean_engine, f"""SELECT provider_ods AS service_ods, service_type_code AS service_code, {columns}
                                  FROM analytics.outcome LEFT JOIN analytics.service USING (service_key)""")
    expected = rows(clean_truth, f"SELECT service_ods, service_code, {columns} FROM e_outcome")
    assert_same_rows(expected, got.to_pylist(), ("referral_key", "measure"))
    measures = {r["measure"] for r in expected}
    assert {"PHQ9", "GAD7", "TT_COMBINED", "DIALOG", "REQOL10", "SWEMWBS", "ONS4_LIFE_SATISFACTION"} <= measures


def test_journeys_follow_the_truths_transition_rules(clean_truth, clean_engine):
    got = query(clean_engine, """SELECT referral_key, step_no, from_setting, to_setting, transition,
                                        days_since_previous, seen FROM analytics.journey_step""")
    expected = rows(clean_truth, """SELECT referral_key, step_no, from_setting, setting AS to_setting, transition,
                                           days_since_previous, seen FROM e_journey""")
    assert_same_rows(expected, got.to_pylist(), ("referral_key",))
    assert {r["transition"] for r in expected} == {"first_referral", "re_referral", "bounced_back", "step_up",
                                                   "step_down", "sideways"}
    # the truth's own labels, for people the split does not touch
    differ = clean_truth.sql("""
        SELECT COUNT(*) FROM e_journey AS j JOIN t_referrals AS r USING (source, provider_ods, "table", local_id)
        WHERE j.kind = 'received' AND r.transition <> j.transition
          AND j.person_id NOT IN (SELECT person_id FROM pp WHERE NOT valid AND NOT probabilistic)""").fetchall()
    assert differ == [(0,)]


# --- the ten questions -----------------------------------------------------------------------

# headline rows that must not be empty or zero: (filter on the expected rows, the figure)
HEADLINES = {
    "q01": (lambda r: r["group_dimension"] == "all", "people"),
    "q02": (lambda r: True, "referrals"),
    "q03": (lambda r: r["service_type_code"] in ("A06", "TT", "SP"), "reached_second_contact"),
    "q04": (lambda r: r["group_dimension"] == "all", "finished"),
    "q05": (lambda r: True, "moves"),
    "q06": (lambda r: r["setting_a"] == "any", "people"),
    "q07": (lambda r: r["dimension"] == "all", "referrals"),
    "q08": (lambda r: True, "people_never_seen"),
    "q09": (lambda r: r["group_dimension"] == "all", "dnas"),
    "q10": (lambda r: r["service_type_code"] == "all secondary", "with_crisis_plan"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_question_gives_the_truths_answer(name, clean_truth, clean_engine):
    statement = re.sub(r"'[^']*'|--[^\n]*", "", get_question(name).sql).strip().rstrip(";")
    assert ";" not in statement, "one query"
    expected = expected_answer(clean_truth, name)
    assert_same_rows(expected, question_rows(clean_engine, name), KEYS[name])
    keep, column = HEADLINES[name]
    headline = [r[column] for r in expected if keep(r)]
    assert headline and sum(v or 0 for v in headline) > 0, f"{name}: the system gives it nothing to count"


def test_every_question_has_its_pathways(clean_truth):
    pathways = {r["pathway"] for r in expected_answer(clean_truth, "q02")}
    assert {"1 accepted and seen", "3a rejected, re-referred to a CMHT",
            "3b rejected, then primary care mental health", "3c rejected, then VCSE"} <= pathways
    moves = {r["transition"] for r in expected_answer(clean_truth, "q05")}
    assert moves == {"step_up", "step_down"}
