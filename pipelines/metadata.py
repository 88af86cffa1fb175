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
