"""Property: any staged row that staging accepts maps to resources that validate with the R4B
models (the reference) and with the compiled validator, and meet the UK Core rules.

Rows are generated as the text a provider might send, per column of the staging specs
(`staging.table_specs()`), and passed through staging's own row validation (`staging.checks.validate`);
only the rows it accepts are staged. Ids come from small pools so records point at each other
(contacts at referrals, referrals at patients) and the person index links some people across
sources. Then the real person index (`build_person_index`), mapping, R4B validation and UK Core
rules run on them.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_mapping import map_resources, validate_resources
from fhir_mapping.profiles import check_profiles
from carebridge.linkage import build_person_index
from carebridge.staging import table_specs
from carebridge.staging.checks import validate
from carebridge.staging.codelists import code_values
from carebridge.staging.tables import ColumnSpec, TableSpec

PROVIDERS = {"gp": "Z90001", "mhsds": "RZZ", "talking_therapies": "RZY", "vcse": "8ZZ01"}
KNOWN_ODS = ["Z90001", "Z90002", "RZZ", "RZY", "8ZZ01"]
NHS_NUMBERS = ["9434765919", "9990000018", "9990000026", "9990000034", "1234567890"]

_ids = st.sampled_from(["1", "2", "3"])
_maybe = lambda strategy: st.one_of(st.just(""), strategy)  # noqa: E731 - "" is an empty cell
_words = st.text(alphabet="abc XYZé'-", min_size=1, max_size=12)
_dates = st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2026, 6, 30)).map(dt.date.isoformat)
_birth_dates = st.dates(min_value=dt.date(1930, 1, 1), max_value=dt.date(2010, 12, 31)).map(dt.date.isoformat)
_datetimes = st.tuples(_dates, st.integers(0, 23), st.integers(0, 59)).map(lambda t: f"{t[0]}T{t[1]:02d}:{t[2]:02d}:00")

# Columns whose content the spec types do not tell: ids, ODS codes, service names, free SNOMED codes.
_BY_NAME = {
    "target_service": _maybe(st.sampled_from(["A06", "A13", "talking therapies", "social prescribing", "Z99"])),
    "snomed_code": st.sampled_from(["24921000000109", "1037451000000103", "871731000000106", "720433000",
                                    "445455005", "35489007", "736253002", "391193001", "123456789"]),
    "CodedAssToolType": st.sampled_from(["720433000", "445455005", "1091071000000100", "WSAS", "999"]),
    "ubrn": _maybe(st.just("000012345678")),
    "PresentingComplaint": _maybe(st.sampled_from(["F32.1", "F41.1"])),
    "NHSNumberStatus": _maybe(st.sampled_from(["01", "02"])),
}


def _is_id(column: ColumnSpec) -> bool:
    return column.name.lower().endswith("id") or column.name.endswith("_id") or column.name == "GMPCodeReg"


def _is_ods(column: ColumnSpec) -> bool:
    return "ods" in column.name.lower() or column.name.startswith("OrgID")


def _column(column: ColumnSpec) -> st.SearchStrategy[str]:
    """Text a provider might send in one cell of this column (valid or not: staging decides)."""
    if column.name in _BY_NAME:
        value = _BY_NAME[column.name]
    elif column.nhs_number:
        value = st.sampled_from(NHS_NUMBERS)
    elif column.codes:
        codes = sorted(code_values(column.codes)) + ["ZZ"]
        single = st.sampled_from(codes)
        value = st.lists(single, min_size=1, max_size=3).map(column.multi.join) if column.multi else single
    elif _is_ods(column):
        value = st.sampled_from([*KNOWN_ODS, "X1234"])
    elif _is_id(column):
        value = _ids
    else:
        value = {"date": _birth_dates if column.dates == "birth" else _dates, "datetime": _datetimes,
                 "int": st.integers(0, 120).map(str), "decimal": st.integers(0, 40).map(str),
                 "bool": st.sampled_from(["true", "false"]), "text": _words}[column.type]
    return value if column.required else _maybe(value)


def _rows(spec: TableSpec) -> st.SearchStrategy[list[dict[str, str]]]:
    row = st.fixed_dictionaries({c.name: _column(c) for c in spec.columns})
    return st.lists(row, min_size=0, max_size=4)


def _staged(spec: TableSpec, rows: list[dict[str, str]]) -> pa.Table:
    """The rows staging accepts, typed, with the lineage columns staging adds."""
    text = pa.table({c.name: pa.array([r[c.name] or None for r in rows], pa.string()) for c in spec.columns})
    checked = validate(spec, text, text)
    typed = checked.typed.filter(checked.ok)
    n = typed.num_rows
    ods = PROVIDERS[spec.source]
    lineage = {"provider_ods": [ods] * n, "reporting_month": ["2025-06"] * n, "submission_id": ["20250701T0900"] * n,
               "source_file": [f"{spec.source}/{ods}/2025-06/{spec.name}.csv"] * n,
               "source_line": pc.indices_nonzero(checked.ok).to_pylist()}
    for name, values in lineage.items():
        typed = typed.append_column(name, pa.array(values, pa.int64() if name == "source_line" else pa.string()))
    return typed


SPECS = table_specs()
_system = st.fixed_dictionaries({name: _rows(spec) for name, spec in SPECS.items()})


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(system=_system)
def test_every_row_staging_accepts_maps_to_valid_uk_core_resources(system, reference):
    staged = {name: _staged(SPECS[name], rows) for name, rows in system.items()}
    index = build_person_index(staged)
    mapping = map_resources(staged, index, reference)
    resources = mapping.resources
    model = validate_resources(resources, workers=1, strict=True)
    assert model.failures == [], [(f["resource_type"], f["error"][:300]) for f in model.failures[:3]]
    compiled = validate_resources(resources, workers=1)
    assert compiled.failures == [], [(f["resource_type"], f["error"][:300]) for f in compiled.failures[:3]]
    profiles = check_profiles(resources)
    assert profiles.failures == [], profiles.failures[:3]


# --- what the property found, pinned as examples -------------------------------------------------

def test_codes_with_stray_whitespace_become_fhir_codes(build, index, reference):
    """Staging keeps text as sent; a `code` may not carry edge or repeated whitespace."""
    staged = {"mhsds.MHS101Referral": build.staged_table("mhsds", "RZZ", [
        {"ServiceRequestId": "S7", "LocalPatientId": "M1", "SourceOfReferralMH": " A1 ",
         "ReferralRequestReceivedDate": dt.date(2025, 1, 15), "ServTeamTypeRefToMH": "A06",
         "ReferRejectionDate": dt.date(2025, 1, 20), "ReferRejectReason": "no  capacity "}])}
    (request,) = map_resources(staged, index, reference).resources["ServiceRequest"]
    codes = {e["url"].rsplit("/", 1)[1]: e.get("valueCode") or (e.get("valueCodeableConcept") or {}).get("coding", [{}])[0].get("code")
             for e in request["extension"]}
    assert codes["Extension-UKCore-SourceOfServiceRequest"] == "A1" and codes["referral-rejection-reason"] == "no capacity"
    assert validate_resources({"ServiceRequest": [request]}, workers=1).failures == []


def test_a_wellbeing_score_without_a_known_measure_is_not_mapped(build, index, reference):
    staged = {"vcse.referral": build.staged_table("vcse", "8ZZ01", [
                  {"referral_id": "VR1", "person_id": "V1", "referral_date": dt.date(2025, 3, 1), "status": "accepted"}]),
              "vcse.wellbeing_score": build.staged_table("vcse", "8ZZ01", [
                  {"score_id": "W8", "referral_id": "VR1", "measure": None, "item": "happy", "value": 6.0,
                   "recorded_date": dt.date(2025, 3, 5)},
                  {"score_id": "W9", "referral_id": "VR1", "measure": "ONS4", "item": "happy", "value": 6.0,
                   "recorded_date": dt.date(2025, 3, 5)}])}
    result = map_resources(staged, index, reference)
    assert [o["identifier"][0]["value"] for o in result.resources["Observation"]] == ["W9"]
    assert result.unmapped.select(["local_id", "reason"]).to_pylist() == [{"local_id": "W8", "reason": "unknown_measure"}]
