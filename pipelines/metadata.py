"""Asset metadata that helps a data engineer: counts, and small previews with no patient data."""

from __future__ import annotations

import base64
from collections.abc import Mapping

import dagster as dg
import pyarrow as pa


def counts_table(counts: Mapping[str, int], key: str = "table", value: str = "rows") -> dg.MetadataValue:
    lines = [f"| {key} | {value} |", "|---|---:|"] + [f"| {k} | {v:,} |" for k, v in sorted(counts.items())]
    return dg.MetadataValue.md("\n".join(lines))


def preview(table: pa.Table, limit: int = 10) -> dg.MetadataValue:
    """A markdown preview of an aggregate table (never used on row-level identifiable data)."""
    lines = ["| " + " | ".join(table.column_names) + " |", "|" + "---|" * len(table.column_names)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row.values()) + " |"
              for row in table.slice(0, limit).to_pylist()]
    if table.num_rows == 0:
        lines.append("_no rows_")
    elif table.num_rows > limit:
        lines += ["", f"_{table.num_rows - limit:,} more rows_"]
    return dg.MetadataValue.md("\n".join(lines))


def png_chart(png: bytes, title: str) -> dg.MetadataValue:
    """A small chart shown inline in the asset's metadata (markdown with the PNG as a data URI)."""
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})")


def column_schema(schema: str, name: str, table: pa.Table | None = None) -> dg.TableSchema:
    """The Dagster column schema of `schema.name` with the data dictionary's descriptions
    (warehouse/dictionary.yaml), typed from the built table when given. Columns the table has but
    the dictionary lacks still appear (with no description), so nothing is hidden."""
    from warehouse.dictionary import load_dictionary

    doc = load_dictionary().get(f"{schema}.{name}")
    described = dict(doc.columns) if doc else {}
    names = table.column_names if table is not None else list(described)
    types = {f.name: str(f.type) for f in table.schema} if table is not None else {}
    return dg.TableSchema(columns=[dg.TableColumn(name=c, type=types.get(c, "unknown"), description=described.get(c))
                                   for c in names])


def column_schemas(schema: str, tables: Mapping[str, pa.Table]) -> dict[str, dg.MetadataValue]:
    """Metadata showing every table's column schema with descriptions: `dagster/column_schema` when
    the asset is one table, else one `columns_<table>` entry per table (a Dagster asset has one
    column schema, and the analytics and published assets each build several tables), plus the
    table descriptions as markdown."""
    from warehouse.dictionary import load_dictionary

    if len(tables) == 1:
        (name, table), = tables.items()
        return {"dagster/column_schema": dg.MetadataValue.table_schema(column_schema(schema, name, table))}
    docs = load_dictionary()
    metadata: dict[str, dg.MetadataValue] = {
        f"columns_{name}": dg.MetadataValue.table_schema(column_schema(schema, name, table))
        for name, table in sorted(tables.items())}
    lines = ["| table | description |", "|---|---|"] + [
        f"| {schema}.{name} | {docs[f'{schema}.{name}'].description if f'{schema}.{name}' in docs else ''} |"
        for name in sorted(tables)]
    metadata["tables"] = dg.MetadataValue.md("\n".join(lines))
    return metadata
