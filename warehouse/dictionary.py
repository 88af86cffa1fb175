"""The data dictionary (`warehouse/dictionary.yaml`), declared once and used everywhere:

- `apply_comments(engine, schema)`: COMMENT ON TABLE / COLUMN for every table of the schema the
  dictionary describes, on DuckDB and PostgreSQL; called by the asset that builds the schema.
- `read_comments(engine, schema)`: the comments back from the database's catalogue (tests).
- `render_markdown()`: docs/data-dictionary.md (`python -m warehouse.dictionary docs` writes it;
  tests/warehouse/test_dictionary.py fails when the file is stale).
The report and the Dagster column schemas read `load_dictionary()`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from warehouse.engines import Warehouse, backend
from warehouse.db import execute_each, is_duckdb, query

__all__ = ["DICTIONARY_FILE", "DOCS_FILE", "TableDoc", "load_dictionary", "tables_of", "warehouse_columns",
           "comment_statements", "apply_comments", "read_comments", "render_markdown"]

DICTIONARY_FILE = Path(__file__).with_name("dictionary.yaml")
DOCS_FILE = Path(__file__).resolve().parents[1] / "docs" / "data-dictionary.md"
DESCRIBED_SCHEMAS = ("analytics", "published")  # every table and column of these must be described


@dataclass(frozen=True)
class TableDoc:
    schema: str
    name: str
    description: str
    columns: Mapping[str, str]


@cache
def load_dictionary() -> dict[str, TableDoc]:
    """`schema.table` -> its description and column descriptions, in the file's order."""
    with open(DICTIONARY_FILE, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    docs = {}
    for qualified, entry in raw.items():
        schema, name = qualified.split(".", 1)
        docs[qualified] = TableDoc(schema, name, str(entry["description"]).strip(),
                                   {str(c): str(d).strip() for c, d in (entry.get("columns") or {}).items()})
    return docs


def tables_of(schema: str) -> dict[str, TableDoc]:
    return {doc.name: doc for doc in load_dictionary().values() if doc.schema == schema}


def warehouse_columns(engine: Warehouse, schema: str) -> dict[str, list[str]]:
    """Every table (and view) of `schema` with its columns in order, from the warehouse's catalogue."""
    return backend(engine).table_columns(schema)


def _views(engine: Warehouse, schema: str) -> set[str]:
    return backend(engine).view_names(schema)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def comment_statements(schema: str, present: Mapping[str, list[str]], views: set[str] = frozenset()) -> list[str]:
    """COMMENT ON statements for the tables of `schema` that are both present and described, and for
    their columns that are described (a table the warehouse lacks, as data quality tables before any
    staging run, is skipped)."""
    statements = []
    for name, doc in tables_of(schema).items():
        if name not in present:
            continue
        kind = "VIEW" if name in views else "TABLE"
        statements.append(f"COMMENT ON {kind} {schema}.{name} IS {_literal(doc.description)}")
        statements += [f'COMMENT ON COLUMN {schema}.{name}."{column}" IS {_literal(text)}'
                       for column, text in doc.columns.items() if column in present[name]]
    return statements


def apply_comments(engine: Warehouse, schema: str) -> int:
    """Write the dictionary's descriptions into the warehouse catalogue for `schema`; returns how many
    comments were set. Run after the schema's tables are (re)built: DROP + CREATE loses comments."""
    present = warehouse_columns(engine, schema)
    if schema == "fhir":
        present = {name: cols for name, cols in present.items() if name.startswith("v_")}
    statements = comment_statements(schema, present, _views(engine, schema))
    if statements:
        execute_each(engine, statements)
    return len(statements)


def read_comments(engine: Warehouse, schema: str) -> dict[tuple[str, str | None], str]:
    """(table, column or None for the table) -> comment, as the database holds them."""
    if is_duckdb(engine):
        tables = query(engine, f"SELECT table_name, comment FROM duckdb_tables() WHERE schema_name = '{schema}' "
                               f"UNION ALL SELECT view_name, comment FROM duckdb_views() WHERE schema_name = '{schema}'")
        columns = query(engine, f"SELECT table_name, column_name, comment FROM duckdb_columns() "
                                f"WHERE schema_name = '{schema}'")
    else:
        tables = query(engine, f"""SELECT c.relname AS table_name, obj_description(c.oid, 'pg_class') AS comment
                                   FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
                                   WHERE n.nspname = '{schema}' AND c.relkind IN ('r', 'v', 'm', 'p')""")
        columns = query(engine, f"""SELECT c.relname AS table_name, a.attname AS column_name,
                                           col_description(c.oid, a.attnum) AS comment
                                    FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
                                    JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                                    WHERE n.nspname = '{schema}' AND c.relkind IN ('r', 'v', 'm', 'p')""")
    found = {(r["table_name"], None): r["comment"] for r in tables.to_pylist() if r["comment"]}
    found.update({(r["table_name"], r["column_name"]): r["comment"] for r in columns.to_pylist() if r["comment"]})
    return found


_SCHEMA_INTRO = {
    "analytics": "Pseudonymised, row level: `person_key` is HMAC-SHA256 of the person id under a key held "
                 "outside the warehouse; people with an opt-out are left out. Analysts and the pipeline read it.",
    "published": "Aggregates under disclosure control (docs/information-governance.md): a count below the "
                 "threshold is suppressed, the rest rounded; **NULL in a count, rate or statistic means "
                 "suppressed**, and only that.",
    "fhir": "The SQL on FHIR views (`warehouse/views/*.json`) over the FHIR resources, with direct "
                    "identifiers: the pipeline role only, never analysts.",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown() -> str:
    """docs/data-dictionary.md, generated from dictionary.yaml."""
    lines = ["# Data dictionary", "",
             "<!-- generated from warehouse/dictionary.yaml by `python -m warehouse.dictionary docs`: edit the YAML, "
             "not this file -->", "",
             "Every table and column of `analytics` and `published`, and the SQL on FHIR views of `fhir`. "
             "The same descriptions are in the warehouse itself (`COMMENT ON`, so `\\d+` in psql or "
             "`duckdb_columns()` show them), on the Dagster assets' column schemas and in the report. Rules and "
             "thresholds behind each figure: [metrics.md](metrics.md).", ""]
    for schema in ("analytics", "published", "fhir"):
        tables = tables_of(schema)
        lines += [f"## {schema}", "", _SCHEMA_INTRO[schema], ""]
        lines += [f"- [{schema}.{name}](#{schema}{name})" for name in tables] + [""]
        for name, doc in tables.items():
            lines += [f"### {schema}.{name}", "", doc.description, "", "| column | description |", "|---|---|"]
            lines += [f"| `{column}` | {_cell(text)} |" for column, text in doc.columns.items()]
            lines.append("")
    return "\n".join(lines)


def _main(argv: list[str]) -> int:
    if argv[:1] != ["docs"]:
        print("usage: python -m warehouse.dictionary docs   (writes docs/data-dictionary.md)", file=sys.stderr)
        return 2
    DOCS_FILE.write_text(render_markdown(), encoding="utf-8")
    print(f"written: {DOCS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
