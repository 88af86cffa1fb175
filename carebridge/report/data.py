"""Read the report's input: the `published` schema and nothing else."""

from __future__ import annotations

import pyarrow as pa

from warehouse.db import Warehouse, read_table, table_names

__all__ = ["PUBLISHED", "read_published"]

PUBLISHED = "published"


def read_published(engine: Warehouse) -> dict[str, pa.Table]:
    """Every table of the `published` schema (a NULL in a controlled column means suppressed)."""
    names = table_names(engine, PUBLISHED)
    return {name: read_table(engine, PUBLISHED, name) for name in names}
