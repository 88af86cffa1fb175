"""Staging: landed extract files -> typed, checked Arrow tables, a quarantine and a load audit.

The only package that reads source formats (docs/internals.md, "Staging"). Column contracts live
in `carebridge/staging/specs/*.yaml`. Dagster stages month by month: `stage_landing(landing, [month])`,
`save_month`, then `consolidate([load_month(d) for d in month_dirs])`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Names are imported on first use (PEP 562), so `carebridge.staging.landing` loads without the
# whole package: the CLI checks a landing area before any heavy import.
_EXPORTS = {
    "carebridge.staging.audit": ("FILE_STATUSES", "LOAD_AUDIT_SCHEMA", "QUARANTINE_SCHEMA", "reconcile"),
    "carebridge.staging.months": ("consolidate", "load_month", "save_month", "staged_table_keys"),
    "carebridge.staging.stage": ("StagingResult", "stage_landing"),
    "carebridge.staging.tables": ("METADATA_COLUMNS", "STAGED_TABLES", "ColumnSpec", "TableSpec", "empty_table",
                                  "staged_schema", "table_specs"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

if TYPE_CHECKING:
    from carebridge.staging.audit import FILE_STATUSES, LOAD_AUDIT_SCHEMA, QUARANTINE_SCHEMA, reconcile
    from carebridge.staging.months import consolidate, load_month, save_month, staged_table_keys
    from carebridge.staging.stage import StagingResult, stage_landing
    from carebridge.staging.tables import (
        METADATA_COLUMNS,
        STAGED_TABLES,
        ColumnSpec,
        TableSpec,
        empty_table,
        staged_schema,
        table_specs,
    )


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'carebridge.staging' has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULE_OF[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "stage_landing",
    "StagingResult",
    "reconcile",
    "save_month",
    "load_month",
    "consolidate",
    "staged_table_keys",
    "table_specs",
    "empty_table",
    "staged_schema",
    "STAGED_TABLES",
    "TableSpec",
    "ColumnSpec",
    "METADATA_COLUMNS",
    "QUARANTINE_SCHEMA",
    "LOAD_AUDIT_SCHEMA",
    "FILE_STATUSES",
]
