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
        "training": {"u_max_pairs": 1000, "u_seed": 1, "m_label_column": "nhs_number", "min_label_pairs": 5,
                     "unobserved_m_pairs": 0.5},
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
        "given_name": ["Zoë", "O’Neill-Smith", "  "], "postcode": ["qz1 2ab", "QZ12AB", "Z1"],
        "ethnic_category": ["A", "99", "Z"], "birth_date": [dt.date(1980, 1, 2)] * 3})
    cleaned = comparison_records(records, model).to_pylist()
    assert [r["given_name"] for r in cleaned] == ["ZOE", "ONEILLSMITH", None]
    assert [r["postcode"] for r in cleaned] == ["QZ1 2AB", "QZ1 2AB", None]
    assert [r["ethnic_category"] for r in cleaned] == ["A", None, None]
    # Only a trusted record keeps its NHS number for comparison.
    assert [r["nhs_number"] for r in cleaned] == ["9434765919", None, None]
