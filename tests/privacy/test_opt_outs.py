"""National data opt-outs and GP type 1 objections: both halves of each rule (reference.md).

Two runs over one generated system (tests/privacy/conftest.py): `duckdb_run` as generated (some
type 1 objections, no opt-outs) and `opt_out_run` (an opt-out list, type 1 flags cleared). So
- the people each rule names are absent from analytics in the run that applies it and present in
  the run that does not;
- apart from those people, every analytics table is the same in both runs;
- the direct-care FHIR output (NDJSON and every organisation's bundles) is byte-identical, and
  the opted-out people are in it.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file (pytest runs in importlib mode)
from privacy_support import delivered_under, person_keys_of, schema_tables, sorted_rows
from carebridge.core.ids import person_id_for_nhs_number
from warehouse.build import ANALYTICS_TABLES
from warehouse.db import query
from warehouse.marts import read_sql
from fhir_mapping.bundles import read_delivered


class _Quiet(dict):
    """Shown as a placeholder in tracebacks (pytest prints test arguments): never the rows."""

    def __repr__(self) -> str:
        return "<analytics and exclusions of both runs>"


@pytest.fixture(scope="module")
def both(duckdb_run, opt_out_run, helpers, tmp_path_factory):
    """Analytics tables and excluded person_keys of each run (read from private copies)."""
    found = _Quiet()
    for label, run in (("as_generated", duckdb_run), ("opt_outs", opt_out_run.run)):
        with helpers.duckdb_copy(run, tmp_path_factory.mktemp(label)) as engine:
            found[label] = {
                "analytics": schema_tables(engine, "analytics"),
                "working": {n: t for n, t in schema_tables(engine, "work").items() if n.startswith("m_")},
                "type1": person_keys_of(engine, "p.type1_objection"),
                "type1_ids": set(query(engine, "SELECT person_id FROM linkage.person WHERE type1_objection")
                                 ["person_id"].to_pylist()),
                "excluded": query(engine, "SELECT person_id, reason FROM work.analytics_exclusions").to_pylist(),
                "keys": dict(zip(*query(engine, "SELECT person_id, person_key FROM work.person_key_map")
                                 .to_pydict().values())),
            }
    return found


def _keys_in(tables) -> set[str]:
    return {k for t in tables.values() if "person_key" in t.column_names for k in t["person_key"].to_pylist()}


def _ids_in(tables) -> set[str]:
    return {p for t in tables.values() for c in ("person_id", "patient_id") if c in t.column_names
            for p in t[c].to_pylist()}


# Assertions compare counts of people, so a failure never prints person ids or keys.

def test_opted_out_people_leave_analytics_and_only_they_do(both, opt_out_run):
    opted_ids = {person_id_for_nhs_number(n) for n in opt_out_run.opted_out_nhs_numbers}
    opted_keys = {both["as_generated"]["keys"][p] for p in opted_ids}
    excluded_ids = {r["person_id"] for r in both["opt_outs"]["excluded"]}
    assert len(opted_keys) == len(opt_out_run.opted_out_nhs_numbers) == len(excluded_ids)
    assert len(excluded_ids ^ opted_ids) == 0
    assert {r["reason"] for r in both["opt_outs"]["excluded"]} == {"national_data_opt_out"}
    before = len(opted_keys & _keys_in(both["as_generated"]["analytics"]))     # there before ...
    after = len(opted_keys & _keys_in(both["opt_outs"]["analytics"]))          # ... and gone
    working = len(opted_ids & _ids_in(both["opt_outs"]["working"]))           # from the working tables too
    assert (before, after, working) == (len(opted_keys), 0, 0)


def test_type1_objectors_leave_analytics_and_return_when_the_flag_is_cleared(both):
    type1_keys = both["as_generated"]["type1"]
    assert type1_keys and not both["opt_outs"]["type1"]
    assert {r["reason"] for r in both["as_generated"]["excluded"]} == {"type1_objection"}
    while_flagged = len(type1_keys & _keys_in(both["as_generated"]["analytics"]))
    working = len(both["as_generated"]["type1_ids"] & _ids_in(both["as_generated"]["working"]))
    once_cleared = len(type1_keys & _keys_in(both["opt_outs"]["analytics"]))
    assert (while_flagged, working, once_cleared) == (0, 0, len(type1_keys))


@pytest.mark.parametrize("name", ANALYTICS_TABLES)
def test_apart_from_the_excluded_people_every_analytics_table_is_unchanged(both, name):
    type1_keys = both["as_generated"]["type1"]
    opted_keys = {both["as_generated"]["keys"][r["person_id"]] for r in both["opt_outs"]["excluded"]}
    before = sorted_rows(both["as_generated"]["analytics"][name], drop_keys=opted_keys)
    after = sorted_rows(both["opt_outs"]["analytics"][name], drop_keys=type1_keys)
    assert len(before) > 0
    same = before == after
    assert same, f"{name}: {len(before)} rows before, {len(after)} after (without the excluded people)"


def test_published_tables_read_only_tables_without_the_excluded_people():
    """Published SQL reads only `analytics.*` and `reference.*` (parsed with sqlglot): the tests above
    show the excluded people are in none of the analytics tables. The data quality tables read the
    pipeline's records of its own work, copied without values into analytics, declared in marts.yaml
    `requires` because a warehouse without a staging or linkage run has none."""
    from warehouse.build import PUBLISHED_INPUTS
    from warehouse.marts.graph import table_references
    from warehouse.publish import published_specs

    for name, spec in published_specs().items():
        declared = {tuple(t.split(".", 1)) for t in spec.requires}
        assert declared <= {("analytics", t) for t in PUBLISHED_INPUTS}, (name, declared)
        sources = table_references(read_sql(f"published_{name}"))
        assert sources and {s for s, _ in sources} <= {"analytics", "reference"}, (name, sorted(sources))


def test_direct_care_fhir_output_is_byte_identical_and_holds_the_excluded_people(duckdb_run, opt_out_run):
    generated = delivered_under(duckdb_run.out / "fhir")
    with_rules = delivered_under(opt_out_run.run.out / "fhir")
    assert len(generated) > 10
    assert {p.relative_to(duckdb_run.out) for p in generated} == {p.relative_to(opt_out_run.run.out) for p in with_rules}
    different = [str(p.relative_to(duckdb_run.out)) for p, data in generated.items()
                 if with_rules[opt_out_run.run.out / p.relative_to(duckdb_run.out)] != data]
    assert different == []
    in_bundles = set()
    for bundle in read_delivered(opt_out_run.run.out).values():
        in_bundles |= {e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"}
    opted_ids = {person_id_for_nhs_number(n) for n in opt_out_run.opted_out_nhs_numbers}
    missing = len(opted_ids - in_bundles)
    assert missing == 0, "opted-out people still get direct care: their records are shared"
