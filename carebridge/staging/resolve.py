"""One version per record across months: the latest month's row of each (provider, local key) wins.

Used by `stage_landing` (several months at once) and `consolidate` (months staged one by one).
Older versions are dropped from the staged tables and counted as superseded in the load-audit row
of the file they came from, so rows_read = staged + quarantined + superseded still holds.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from carebridge.staging.checks import first_of_groups
from carebridge.staging.tables import staged_schema, table_specs

__all__ = ["latest_versions", "keep_latest_versions", "count_superseded"]


def latest_versions(table: pa.Table, key: tuple[str, ...]) -> pa.BooleanArray:
    """True for the latest month's version of each (provider, key); ties keep the earlier row."""
    order = pc.sort_indices(table, [("reporting_month", "descending")]).to_numpy()  # a stable sort
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return first_of_groups(table.select(["provider_ods", *key]), pa.array(rank))


def keep_latest_versions(pieces: dict[str, list[pa.Table]]) -> tuple[dict[str, pa.Table], Counter]:
    """Every spec table (empty when no piece arrived) with one version per record, and the
    number of dropped rows per source_file."""
    tables: dict[str, pa.Table] = {}
    dropped: Counter = Counter()
    for name, spec in table_specs().items():
        schema = staged_schema(spec)
        table = pa.concat_tables([p.cast(schema) for p in pieces.get(name, [])] or [schema.empty_table()])
        if spec.key and table.num_rows:
            keep = latest_versions(table, spec.key)
            dropped.update(table.filter(pc.invert(keep))["source_file"].to_pylist())
            table = table.filter(keep)
        tables[name] = table.combine_chunks()
    return tables, dropped


def count_superseded(load_audit: pa.Table, dropped: Counter) -> pa.Table:
    """Move rows dropped for a later month's version from rows_staged to rows_superseded."""
    if not dropped:
        return load_audit
    files = load_audit["source_file"].to_pylist()
    later = pa.array([dropped.get(f, 0) for f in files], pa.int64())
    names = load_audit.column_names
    audit = load_audit.set_column(names.index("rows_staged"), "rows_staged", pc.subtract(load_audit["rows_staged"], later))
    return audit.set_column(names.index("rows_superseded"), "rows_superseded",
                            pc.add(load_audit["rows_superseded"], later))
