"""The suites as data: every file loads, names real GX expectations and only contract columns."""

from __future__ import annotations

import pyarrow as pa
import pytest

from expectations.config import LAYERS, code_lists, contract_columns
from expectations.gx_runner import build_expectation
from expectations.plan import EXTENSIONS, build_plan
from expectations.spec import list_suites, load_suite, resolve_path, value_set_at

ALL_SUITES = [(layer, table) for layer in LAYERS for table in list_suites(layer)]


def _empty_related(suite) -> dict[str, pa.Table]:
    """An empty referenced table for every foreign key, so the extension expands fully."""
    return {spec.kwargs["ref_table"]: pa.table({spec.kwargs["ref_column"]: pa.array([], pa.string())})
            for spec in suite.expectations if spec.expectation == "carebridge_foreign_key"}


def test_every_contract_table_has_a_suite():
    import yaml
    from expectations.config import PACKAGE_DIR

    contracts = yaml.safe_load((PACKAGE_DIR / "contracts.yaml").read_text())
    for layer in LAYERS:
        assert list_suites(layer) == sorted(contracts[layer]), layer


def test_suites_cover_the_four_layers():
    assert len(list_suites("staged")) == 20
    assert "v_patient" in list_suites("fhir")
    assert {"person", "service", "referral"} <= set(list_suites("analytics"))
    assert "pathways" in list_suites("published")


@pytest.mark.parametrize(("layer", "table"), ALL_SUITES, ids=[f"{l}/{t}" for l, t in ALL_SUITES])
def test_suite_loads_and_every_expectation_is_a_real_gx_expectation(layer, table):
    suite = load_suite(layer, table)
    assert suite.expectations, "a suite with no expectations checks nothing"
    for spec in suite.expectations:
        assert spec.severity in ("error", "warning")
        assert spec.why
    columns = contract_columns(layer, table)
    data = pa.table({c: pa.array([], pa.int64()) for c in columns})
    plan = build_plan(suite, data, _empty_related(suite), fk_limit=100)
    assert plan.checks
    for check in plan.checks:
        assert check.error is None, check
        build_expectation(check)  # raises on an unknown name or an argument GX does not take


@pytest.mark.parametrize(("layer", "table"), ALL_SUITES, ids=[f"{l}/{t}" for l, t in ALL_SUITES])
def test_suite_names_only_columns_of_the_table_contract(layer, table):
    unknown = load_suite(layer, table).columns() - set(contract_columns(layer, table))
    assert not unknown


def test_only_known_extensions_are_used():
    used = {spec.expectation for layer, table in ALL_SUITES for spec in load_suite(layer, table).expectations}
    assert {name for name in used if name.startswith("carebridge_")} <= set(EXTENSIONS)


def test_staged_suites_include_the_provenance_checks():
    suite = load_suite("staged", "vcse.contact")
    assert {"provider_ods", "reporting_month", "source_line"} <= suite.columns()


def test_value_sets_come_from_the_code_lists():
    assert value_set_at("ethnic_category")[-2:] == ["Z", "99"]
    assert set(value_set_at("attend_status.*.outcome")) == {
        "attended", "did_not_attend", "cancelled_by_patient", "cancelled_by_provider"}
    assert set(value_set_at("cons_mechanism.*.mechanism")) == {"face_to_face", "telephone", "video", "other"}
    assert value_set_at("age_bands.*.2")[0] == "0-17" and value_set_at("age_bands.*.2")[-1] == "76+"
    assert value_set_at("staff_role") == ["GP", "NURSE", "MHP", "SPLW", "PHARMACIST", "OTHER"]
    assert "720433000" in value_set_at("measures.*.snomed")  # nested lists are flattened
    assert value_set_at("journey_transition")[0] == "first_referral"  # expectations/code_lists.yaml


def test_single_values_and_mappings_resolve_as_they_are():
    assert resolve_path("disclosure.suppress_below") == code_lists()["disclosure"]["suppress_below"]
    assert resolve_path("measures")["PHQ9"]["max"] == 27


def test_a_suite_value_set_is_resolved_at_load_time():
    suite = load_suite("staged", "gp.patient")
    ethnic = next(s for s in suite.expectations
                  if s.kwargs.get("column") == "ethnic_category" and "value_set" in s.kwargs)
    assert ethnic.kwargs["value_set"] == value_set_at("ethnic_category")
    assert not any(key.endswith("_from") for s in suite.expectations for key in s.kwargs)


def test_unknown_code_list_path_is_an_error():
    with pytest.raises(KeyError):
        value_set_at("no_such_list")


def test_unknown_suite_is_an_error():
    with pytest.raises(FileNotFoundError):
        load_suite("analytics", "no_such_table")
    with pytest.raises(ValueError):
        list_suites("bronze")
