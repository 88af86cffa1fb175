"""The Splink pass on its own: training choices, and a run too small to learn from."""

import datetime as dt

import pyarrow as pa
import pytest

from carebridge.linkage.splink_linker import SplinkLinker, floor_parameters, prior_weight


def test_levels_training_never_reached_get_the_floor_and_each_comparison_sums_to_one():
    settings = {"comparisons": [{"output_column_name": "birth_date", "comparison_levels": [
        {"is_null_level": True}, {"m_probability": 0.99, "u_probability": 0.01}, {"m_probability": None, "u_probability": 0.0},
        {"m_probability": 0.01, "u_probability": 0.99}]}]}
    levels = floor_parameters(settings, 0.001)["comparisons"][0]["comparison_levels"]
    m = [level["m_probability"] for level in levels[1:]]
    u = [level["u_probability"] for level in levels[1:]]
    assert sum(m) == pytest.approx(1.0) and sum(u) == pytest.approx(1.0)
    assert m[1] == pytest.approx(0.001 / 1.001) and u[1] == pytest.approx(0.001 / 1.001)
    assert settings["comparisons"][0]["comparison_levels"][2]["m_probability"] is None  # input left alone
    assert prior_weight(0.5) == 0.0 and prior_weight(1 / 1025) == pytest.approx(-10)


def test_a_run_too_small_to_train_on_still_scores_its_pairs():
    records = pa.table({
        "unique_id": pa.array([1, 2, 3], pa.int64()), "trusted": [True, False, True],
        "nhs_number": ["9434765919", None, "9000000009"], "given_name": ["Ann", "Ann", "Bob"],
        "family_name": ["Lee", "Lee", "Ray"], "birth_date": [dt.date(1980, 1, 2), dt.date(1980, 1, 2), dt.date(1990, 5, 6)],
        "gender": ["female", "female", "male"], "postcode": ["ZZ1 1AA", "ZZ1 1AA", "ZZ9 9ZZ"],
        "lsoa_code": ["E01", None, "E02"], "ethnic_category": ["A", "A", "B"], "gp_practice_ods": ["Z1", None, "Z1"]})
    scored = SplinkLinker()(records)
    # Trained without labels: EM is tried on every declared block (too few pairs here: skipped, floors used).
    assert scored.training["m"].startswith("expectation maximisation") and "label" not in scored.training["m"]
    pairs = {(r["unique_id_l"], r["unique_id_r"]): r for r in scored.pairs.to_pylist()}
    assert (1, 2) in pairs and pairs[(1, 2)]["match_weight"] > 0
    # One weight per comparison; null where a record lacks the column (record 2 has no practice).
    assert pairs[(1, 2)]["w_given_name"] > 0 and pairs[(1, 2)]["w_gp_practice_ods"] is None
    assert "match_weights" in scored.charts and scored.parameters["linker_uid"] == "carebridge"


def test_a_level_em_never_saw_weighs_nothing_in_favour():
    from carebridge.linkage.splink_linker import unobserved_not_in_favour

    def settings(ms, us):
        levels = [{"is_null_level": True}] + [{"m_probability": m, "u_probability": u} for m, u in zip(ms, us)]
        return {"comparisons": [{"output_column_name": "birth_date", "comparison_levels": levels}]}

    before = settings([0.5, 0.3, 0.2], [0.001, 0.02, 0.979])
    # EM moved the first level's m, never saw the other two: they keep a starting m that favours a
    # match for the second (0.3 against u 0.02), which becomes u; the third already weighs against.
    after = unobserved_not_in_favour(before, settings([0.9, 0.3, 0.2], [0.001, 0.02, 0.979]))
    levels = after["comparisons"][0]["comparison_levels"][1:]
    assert [level["m_probability"] for level in levels] == [0.9, 0.02, 0.2]
    # a comparison the session did not train (nothing moved) is left as it was
    untouched = unobserved_not_in_favour(before, before)
    assert [level["m_probability"] for level in untouched["comparisons"][0]["comparison_levels"][1:]] == [0.5, 0.3, 0.2]
