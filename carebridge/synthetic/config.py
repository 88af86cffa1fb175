"""The generator's data files, read once: the extract layout, journey parameters, faults and names."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DATA_DIR", "extracts", "params", "faults", "names", "extract_columns", "table_spec"]

DATA_DIR = Path(__file__).parent / "data"


def _load(name: str) -> dict[str, Any]:
    with open(DATA_DIR / name, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@cache
def extracts() -> dict[str, Any]:
    """extracts.yaml: sources, tables, columns, person tables and v5 variants."""
    return _load("extracts.yaml")


@cache
def params() -> dict[str, Any]:
    return _load("params.yaml")


@cache
def faults() -> dict[str, Any]:
    return _load("faults.yaml")


@cache
def names() -> dict[str, Any]:
    return _load("names.yaml")


def table_spec(source: str, table: str) -> dict[str, Any]:
    return extracts()["sources"][source]["tables"][table]


def extract_columns() -> dict[str, dict[str, list[str]]]:
    """source -> table -> file columns in order: the extract contract as the generator writes it."""
    return {
        source: {table: list(spec["columns"]) for table, spec in body["tables"].items()}
        for source, body in extracts()["sources"].items()
    }
