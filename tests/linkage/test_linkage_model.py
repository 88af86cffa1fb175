"""The linkage model is data: probabilistic.yaml read into the config, and the cleaning it declares."""

import datetime as dt

import pyarrow as pa
import pytest

from carebridge.linkage.model import blocking_rule_sql, default_model, load_model, model_from_dict, splink_settings
from carebridge.linkage.prepare import comparison_records


def _declared(**overrides):
    declared = {
        "columns": {"given_name": {"kind": "name"}, "postcode": {"kind": "postcode"},
                    "ethnic_category": {"kind": "code", "unknown": ["99", "Z"]}, "birth_date": {"kind": "date"}},
        "comparisons": [{"column": "given_name", "function": "NameComparison", "term_frequency_adjustments": True},
                        {"column": "birth_date", "function": "ExactMatch"}],
        "blocking_rules": [{"equal": ["birth_date"]}, {"equal": ["given_name", "year(birth_date)"], "scope": "all"}],
        "training": {"u_max_pairs": 1000, "u_seed": 1, "deterministic_rules": ["l.birth_date = r.birth_date"],
                     "deterministic_recall": 0.8, "em_blocking_rules": ["l.birth_date = r.birth_date"],
                     "em_max_pairs": 1000, "floor": 0.0001},
        "thresholds": {"link": 6, "ambiguity_margin": 3, "chain_veto": -10, "nhs_conflict": 12, "nhs_split": -10},
        "bands": {"low": 6, "high": 15},
    }
    return {**declared, **overrides}


def test_shipped_model_loads_and_every_comparison_column_is_cleaned():
    model = default_model()
    cleaned = {rule.column for rule in model.columns}
    assert {c.column for c in model.comparisons} <= cleaned
    assert {"given_name", "family_name", "birth_date", "gender", "postcode"} <= {c.column for c in model.comparisons}
    assert [name for name, _ in model.bands] == ["high", "medium", "low"]
    # Term frequencies on names and postcodes.
    tf = {c.column for c in model.comparisons
          if c.term_frequency_adjustments or any(level.get("tf_column") for level in c.levels)}
    assert {"given_name", "family_name", "postcode"} <= tf


def test_blocking_rules_become_equi_joins_with_their_scope():
    model = model_from_dict(_declared())
    untrusted, everyone = (blocking_rule_sql(rule) for rule in model.blocking_rules)
    assert untrusted == "l.birth_date = r.birth_date AND (l.nhs_number IS NULL OR r.nhs_number IS NULL)"
    assert everyone == "l.given_name = r.given_name AND year(l.birth_date) = year(r.birth_date)"


def test_a_blocking_rule_may_be_sql_such_as_swapped_names():
    model = model_from_dict(_declared(blocking_rules=[
        {"sql": "l.given_name = r.family_name AND l.family_name = r.given_name", "scope": "all"}]))
    assert blocking_rule_sql(model.blocking_rules[0]) == "(l.given_name = r.family_name AND l.family_name = r.given_name)"
    with pytest.raises(ValueError, match="either"):
        model_from_dict(_declared(blocking_rules=[{"equal": ["birth_date"], "sql": "true"}]))


def test_shipped_model_compares_swapped_names_transposed_dates_and_partial_postcodes():
    settings = splink_settings(default_model(), 0.001).create_settings_dict("duckdb")
    labels = {c["output_column_name"]: [level["label_for_charts"] for level in c["comparison_levels"]]
              for c in settings["comparisons"]}
    assert "given and family swapped" in labels["given_name"] and "given and family swapped" in labels["family_name"]
    assert "day and month transposed" in labels["birth_date"]
    assert {"same sector", "same district", "one edit"} <= set(labels["postcode"])
    rules = [r["blocking_rule"] for r in settings["blocking_rules_to_generate_predictions"]]
    assert any("l.given_name = r.family_name" in r for r in rules)
    # no rule needs an exact birth date, postcode or full names to let a pair in
    assert any("birth_date" not in r and "postcode_district" in r for r in rules)


def test_unknown_blocking_scope_is_refused():
    with pytest.raises(ValueError, match="scope"):
        model_from_dict(_declared(blocking_rules=[{"equal": ["birth_date"], "scope": "some"}]))


def test_splink_settings_carry_the_declared_comparisons_and_rules(tmp_path):
    path = tmp_path / "model.yaml"
    import yaml
    path.write_text(yaml.safe_dump(_declared()), encoding="utf-8")
    model = load_model(path)
    settings = splink_settings(model, 0.001).create_settings_dict("duckdb")
    assert [c["output_column_name"] for c in settings["comparisons"]] == ["given_name", "birth_date"]
    assert settings["comparisons"][0]["comparison_levels"][1]["tf_adjustment_column"] == "given_name"
    assert [r["blocking_rule"] for r in settings["blocking_rules_to_generate_predictions"]] == [
        blocking_rule_sql(r) for r in model.blocking_rules]
    assert settings["probability_two_random_records_match"] == 0.001


def test_shipped_custom_postcode_comparison_falls_back_to_the_lsoa():
    settings = splink_settings(default_model(), 0.001).create_settings_dict("duckdb")
    postcode = next(c for c in settings["comparisons"] if c["output_column_name"] == "postcode")
    labels = [level["label_for_charts"] for level in postcode["comparison_levels"]]
    assert labels.index("same LSOA, other postcode") < labels.index("other postcode")
    assert postcode["comparison_levels"][1]["tf_adjustment_column"] == "postcode"


def test_cleaning_normalises_names_postcodes_and_unknown_codes():
    model = model_from_dict(_declared())
    records = pa.table({
        "unique_id": [1, 2, 3], "trusted": [True, False, True], "nhs_number": ["9434765919", "9434765919", None],
        "given_name": ["Zoë", "O’Neill-Smith", "  "], "postcode": ["qz1 2ab", "QZ12AB", " 2000 "],
        "ethnic_category": ["A", "99", "Z"], "birth_date": [dt.date(1980, 1, 2)] * 3})
    cleaned = comparison_records(records, model).to_pylist()
    assert [r["given_name"] for r in cleaned] == ["ZOE", "ONEILLSMITH", None]
    # A postcode that is not UK-shaped (here 4 digits) is kept as text, not nulled.
    assert [r["postcode"] for r in cleaned] == ["QZ1 2AB", "QZ1 2AB", "2000"]
    assert [r["ethnic_category"] for r in cleaned] == ["A", None, None]
    # Only a trusted record keeps its NHS number for comparison.
    assert [r["nhs_number"] for r in cleaned] == ["9434765919", None, None]


def test_shipped_cleaning_derives_sector_and_district_for_any_postcode():
    records = pa.table({
        "unique_id": [1, 2, 3, 4], "trusted": [False] * 4, "nhs_number": [None] * 4,
        "given_name": ["A"] * 4, "family_name": ["B"] * 4, "birth_date": [dt.date(1980, 1, 2)] * 4,
        "gender": ["male"] * 4, "postcode": ["sw1a 1aa", "QZ12 3AB", "2614", None], "lsoa_code": [None] * 4,
        "ethnic_category": ["A"] * 4, "gp_practice_ods": [None] * 4})
    cleaned = comparison_records(records, default_model()).to_pylist()
    assert [(r["postcode"], r["postcode_sector"], r["postcode_district"]) for r in cleaned] == [
        ("SW1A 1AA", "SW1A 1", "SW1A"), ("QZ12 3AB", "QZ12 3", "QZ12"), ("2614", None, "26"), (None, None, None)]
