"""The specs: every staged table is declared consistently and has the exact staged schema."""

from __future__ import annotations

import pyarrow as pa
import pytest

from carebridge.staging import METADATA_COLUMNS, STAGED_TABLES, empty_table, table_specs
from carebridge.staging.codelists import code_values, range_lookup
from carebridge.staging.tables import ARROW_TYPES

EXTRACT_TABLES = {
    "gp": {"patient", "coded_event", "referral", "appointment"},
    "mhsds": {"MHS000Header", "MHS001MPI", "MHS002GP", "MHS101Referral", "MHS201CareContact", "MHS008CarePlanType",
              "MHS606CodedScoreAssessmentRefer"},
    "talking_therapies": {"IDS001MPI", "IDS101Referral", "IDS201CareContact", "IDS606CodedScoreAssessmentRefer"},
    "vcse": {"person", "referral", "contact", "plan", "wellbeing_score"},
}


def test_every_extract_contract_table_is_specified():
    for source, names in EXTRACT_TABLES.items():
        assert {f"{source}.{n}" for n in names} <= set(STAGED_TABLES)


@pytest.mark.parametrize("name", STAGED_TABLES)
def test_empty_table_has_canonical_columns_flags_then_metadata(name):
    spec = table_specs()[name]
    schema = empty_table(name).schema
    own = [pa.field(c.name, ARROW_TYPES[c.type]) for c in spec.columns]
    flags = [pa.field(f, pa.string()) for f in spec.flag_columns]
    assert list(schema) == own + flags + list(METADATA_COLUMNS)
    assert empty_table(name).num_rows == 0


@pytest.mark.parametrize("name", STAGED_TABLES)
def test_spec_references_resolve(name):
    spec = table_specs()[name]
    columns = set(spec.column_names)
    assert set(spec.key) <= columns
    for column in spec.columns:
        if column.codes:
            assert code_values(column.codes), column.codes
        assert column.on_unknown in ("quarantine", "keep")
        if column.type in ("date", "datetime"):
            spec.date_range(column)  # the named range exists
    for rule in spec.rules:
        assert {rule.column, rule.not_before} <= columns
    for rule in spec.value_ranges:
        assert {rule.value, *rule.by} <= columns and range_lookup(rule.lookup)


def test_nhs_number_columns_get_the_check_column():
    assert "nhs_number_check" in empty_table("gp.patient").column_names
    assert "nhs_number_check" in empty_table("mhsds.MHS001MPI").column_names
    assert "nhs_number_check" not in empty_table("gp.referral").column_names


def test_v5_aliases_are_declared():
    specs = table_specs()
    assert specs["mhsds.MHS201CareContact"].column("AttendStatus").aliases == ("AttendOrDNACode",)
    assert specs["mhsds.MHS001MPI"].column("GenderIDCode").aliases == ("Gender",)
    team = specs["mhsds.MHS101Referral"].column("ServTeamTypeRefToMH")
    assert team.from_table.table == "MHS102ServiceTypeReferredTo" and team.on_unknown == "keep"


def test_score_ranges_come_from_the_measures():
    assert range_lookup("measure_codes")[("720433000",)] == (0.0, 27.0)  # PHQ-9
    assert range_lookup("vcse_wellbeing_items")[("SWEMWBS", "total")] == (7.0, 35.0)
    assert range_lookup("vcse_wellbeing_items")[("ONS4", "anxious")] == (0.0, 10.0)
