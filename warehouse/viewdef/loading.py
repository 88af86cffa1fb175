"""What every backend's FHIR loader shares: resources as Arrow batches of (id, JSON text), table
name checks, and a type's NDJSON files as paths. The loaders themselves live beside their engines
(`warehouse.engines.<backend>_views`; Spark's in `warehouse.engines.spark_views`)."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from decimal import Decimal
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path

import pyarrow as pa

__all__ = ["ndjson_paths", "resource_batches", "valid_name"]

_BATCH_ROWS = 50_000


def _json_default(value: object) -> object:
    """Values json cannot write that model dumps may hold: decimals as numbers, dates as ISO text."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime, time)):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def resource_batches(resources: Iterable[dict], size: int = _BATCH_ROWS) -> Iterator[pa.Table]:
    """Arrow tables of (id, resource JSON text), `size` resources at a time."""
    iterator = iter(resources)
    while batch := list(islice(iterator, size)):
        ids = pa.array([r.get("id") for r in batch], type=pa.string())
        texts = pa.array([json.dumps(r, separators=(",", ":"), ensure_ascii=False, default=_json_default)
                          for r in batch], type=pa.string())
        yield pa.table({"id": ids, "resource": texts})


def valid_name(name: str) -> str:
    if not name.isidentifier():
        raise ValueError(f"not a valid table name part: {name!r}")
    return name


def ndjson_paths(files: Path | Sequence[Path] | None) -> list[str]:
    """A type's NDJSON files as path strings: one file, the parts of a partitioned export, or none."""
    if files is None:
        return []
    return [str(files)] if isinstance(files, (str, Path)) else [str(p) for p in files]
