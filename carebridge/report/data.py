"""Read the report's input: the `published` schema and nothing else."""

from __future__ import annotations

import pyarrow as pa
import sqlalchemy as sa

from warehouse.db import read_table

__all__ = ["PUBLISHED", "read_published"]

PUBLISHED = "published"


def read_published(engine: sa.Engine) -> dict[str, pa.Table]:
    """Every table of the `published` schema (a NULL in a controlled column means suppressed)."""
    names = sorted(sa.inspect(engine).get_table_names(schema=PUBLISHED))
    return {name: read_table(engine, PUBLISHED, name) for name in names}
