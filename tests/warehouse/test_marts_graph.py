"""warehouse.marts.graph: the tables each mart reads, from its SQL; the build order that follows;
the privacy boundary of the published tables, proved from their SQL."""

from __future__ import annotations

import pytest

from warehouse.build import ANALYTICS_TABLES, MART_ORDER, PUBLISHED_INPUTS
from warehouse.catalog.analytics import mart_schema
from warehouse.marts import read_sql, settings
from warehouse.marts.graph import build_order, mart_inputs, mart_names, table_references
from warehouse.publish import published_specs
from warehouse.schemas import SCHEMAS


def test_references_are_the_qualified_tables_not_the_ctes_or_aliases():
    sql = """WITH w AS (SELECT * FROM analytics.referral AS r JOIN reference.measure m ON TRUE)
             SELECT * FROM w JOIN (SELECT person_key FROM work.m_x) AS s ON TRUE
             WHERE EXISTS (SELECT 1 FROM fhir.v_patient)"""
    assert table_references(sql) == {("analytics", "referral"), ("reference", "measure"), ("work", "m_x"),
                                      ("fhir", "v_patient")}


def test_every_mart_is_built_after_every_mart_it_reads():
    assert sorted(MART_ORDER) == sorted(mart_names())
    position = {name: i for i, name in enumerate(MART_ORDER)}
    for name, reads in mart_inputs().items():
        for schema, table in reads:
            if table in position:
                assert mart_schema(table) == schema, (name, schema, table)   # read where it is built
                assert position[table] < position[name], (name, table)


def test_the_order_follows_the_graph_and_a_cycle_is_refused():
    inputs = {"c": {("analytics", "b")}, "b": {("work", "m_a")}, "m_a": {("fhir", "v_x")}, "d": set()}
    assert build_order(inputs) == ("d", "m_a", "b", "c")
    with pytest.raises(ValueError, match=r"cycle: \['a', 'b'\]"):
        build_order({"a": {("analytics", "b")}, "b": {("analytics", "a")}})


def test_every_table_a_mart_reads_is_in_a_warehouse_schema():
    for name, reads in mart_inputs().items():
        assert reads and {s for s, _ in reads} <= set(SCHEMAS) - {"published", "staging"}, (name, sorted(reads))


@pytest.mark.parametrize("name", sorted(published_specs()))
def test_published_tables_read_only_analytics_and_reference(name):
    reads = table_references(read_sql(f"published_{name}"))
    assert reads and {s for s, _ in reads} <= {"analytics", "reference"}, sorted(reads)


def test_published_inputs_are_analytics_marts_outside_the_contract():
    assert set(PUBLISHED_INPUTS) <= {n for n in MART_ORDER if mart_schema(n) == "analytics"}
    assert not set(PUBLISHED_INPUTS) & set(ANALYTICS_TABLES)
    optional = {tuple(t.split(".", 1)) for t in settings()["optional_inputs"]}
    assert all(s in ("audit", "linkage") for s, _ in optional)
