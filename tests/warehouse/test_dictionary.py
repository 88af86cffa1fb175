"""The data dictionary against a real built warehouse (DuckDB here, PostgreSQL in
tests/postgres/test_dictionary_postgres.py): every table and column of `analytics` and `published`
is described, in the YAML and in the database's own catalogue (COMMENT ON, set by the assets); the
YAML names nothing the warehouse lacks; docs/data-dictionary.md is up to date."""

from __future__ import annotations

import pytest

from warehouse.db import make_engine
from warehouse.dictionary import (DESCRIBED_SCHEMAS, DOCS_FILE, comment_statements, load_dictionary, read_comments,
                                  render_markdown, warehouse_columns)


def check_warehouse_is_described(url: str) -> int:
    """Assert the dictionary and the built warehouse at `url` agree; returns the columns checked."""
    engine = make_engine(url, read_only=True)
    try:
        checked = 0
        docs = load_dictionary()
        for schema in (*DESCRIBED_SCHEMAS, "fhir"):
            present = warehouse_columns(engine, schema)
            if schema == "fhir":
                present = {t: c for t, c in present.items() if t.startswith("v_")}
            comments = read_comments(engine, schema)
            undescribed = [f"{schema}.{t}.{c}" for t, cols in present.items() for c in cols
                           if not docs.get(f"{schema}.{t}") or not docs[f"{schema}.{t}"].columns.get(c)]
            assert undescribed == [], f"columns with no description in warehouse/dictionary.yaml: {undescribed}"
            uncommented = [f"{schema}.{t}.{c}" for t, cols in present.items() for c in [None, *cols]
                           if not comments.get((t, c))]
            assert uncommented == [], f"no COMMENT ON in the warehouse for: {uncommented}"
            assert comments[(t := next(iter(present)), None)] == docs[f"{schema}.{t}"].description
            stale = [f"{d.schema}.{d.name}.{c}" for d in docs.values() if d.schema == schema
                     for c in (d.columns if d.name in present else ["(table)"]) if c not in present.get(d.name, [])]
            assert stale == [], f"warehouse/dictionary.yaml names what the warehouse does not have: {stale}"
            checked += sum(len(cols) for cols in present.values())
        return checked
    finally:
        engine.dispose()


def test_every_column_of_a_built_duckdb_warehouse_is_described(duckdb_run, record_property):
    checked = check_warehouse_is_described(duckdb_run.warehouse_url)
    record_property("figure: dictionary columns described (duckdb)", checked)
    assert checked > 250


def test_every_table_and_column_has_a_non_empty_description():
    for qualified, doc in load_dictionary().items():
        assert doc.description and len(doc.description) > 15, qualified
        assert doc.columns, qualified
        assert all(text and len(text) > 5 for text in doc.columns.values()), qualified


def test_the_docs_page_is_generated_from_the_yaml():
    assert DOCS_FILE.read_text(encoding="utf-8") == render_markdown(), \
        "docs/data-dictionary.md is stale: run `python -m warehouse.dictionary docs`"


def test_comments_quote_their_text():
    statements = comment_statements("analytics", {"person": ["person_key", "not_described"]})
    assert statements[0].startswith("COMMENT ON TABLE analytics.person IS 'One row per person")
    assert any(s.startswith('COMMENT ON COLUMN analytics.person."person_key" IS ') for s in statements)
    assert not any("not_described" in s for s in statements) and len(statements) == 2
    assert all(s.count("'") % 2 == 0 for s in statements)  # a ' in a description is doubled
    assert any("person''s" in s for s in comment_statements("analytics", {"person": ["age_band"]}))


@pytest.mark.parametrize("schema", DESCRIBED_SCHEMAS)
def test_every_schema_has_entries(schema):
    assert any(d.schema == schema for d in load_dictionary().values())
