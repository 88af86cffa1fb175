"""Reference data and code lists shipped with carebridge, extended by a deployment's own.

`codes()` returns the code lists of codes.yaml. `load_reference(landing)` returns the shipped
organisations, services, LSOA->IMD lookup and opt-out list as Arrow tables, with rows from
`<landing>/reference/*.csv` added and overriding the shipped ones on the same key (extracts.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import yaml

__all__ = ["Reference", "codes", "load_reference", "REFERENCE_DIR"]

REFERENCE_DIR = Path(__file__).parent

# table name -> (key columns, column order); every column is read as text except imd_decile.
_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "organisations": (("ods_code",), ("ods_code", "name", "kind", "parent_ods")),
    "services": (("provider_ods", "service_code"), ("provider_ods", "service_code", "name", "setting", "level")),
    "lsoa_imd": (("lsoa_code",), ("lsoa_code", "imd_decile")),
    "opt_outs": (("nhs_number",), ("nhs_number",)),
}


@cache
def codes() -> dict[str, Any]:
    """The code lists of codes.yaml (read once per process)."""
    with open(REFERENCE_DIR / "codes.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@dataclass(frozen=True)
class Reference:
    organisations: pa.Table
    services: pa.Table
    lsoa_imd: pa.Table
    opt_outs: pa.Table

    def organisation_kinds(self) -> dict[str, str]:
        return dict(zip(self.organisations["ods_code"].to_pylist(), self.organisations["kind"].to_pylist()))


def _read_csv(path: Path, columns: tuple[str, ...]) -> pa.Table:
    types = {c: (pa.int64() if c == "imd_decile" else pa.string()) for c in columns}
    opts = pacsv.ConvertOptions(column_types=types, include_columns=list(columns), strings_can_be_null=True)
    return pacsv.read_csv(path, convert_options=opts)


def _merge(base: pa.Table, extra: pa.Table, keys: tuple[str, ...]) -> pa.Table:
    """Rows of `extra` replace rows of `base` with the same key; the rest are kept."""
    extra_keys = set(zip(*(extra[k].to_pylist() for k in keys)))
    keep = [tuple(r) not in extra_keys for r in zip(*(base[k].to_pylist() for k in keys))]
    return pa.concat_tables([base.filter(pa.array(keep, pa.bool_())), extra.select(base.column_names)])


def load_reference(landing: Path | None = None) -> Reference:
    tables = {}
    for name, (keys, columns) in _TABLES.items():
        table = _read_csv(REFERENCE_DIR / f"{name}.csv", columns)
        local = landing / "reference" / f"{name}.csv" if landing else None
        if local is not None and local.exists():
            table = _merge(table, _read_csv(local, columns), keys)
        tables[name] = table.sort_by([(k, "ascending") for k in keys])
    return Reference(**tables)
