"""The package's own data files: runner settings, extra code lists and table contracts.

Everything here is read from YAML next to this module (declared once, read by code):
`settings.yaml`, `code_lists.yaml` (value sets missing from carebridge's shared codes.yaml) and
`contracts.yaml` (the columns of each validated table, per layer).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from carebridge.core.reference import codes

__all__ = ["PACKAGE_DIR", "SUITES_DIR", "LAYERS", "Settings", "settings", "code_lists", "contract_columns"]

PACKAGE_DIR = Path(__file__).parent
SUITES_DIR = PACKAGE_DIR / "suites"
LAYERS = ("staged", "fhir", "analytics", "published")


@dataclass(frozen=True)
class Settings:
    identifiable_columns: frozenset[str]
    unexpected_examples: int
    foreign_key_value_set_limit: int
    data_docs_site_name: str


def _read_yaml(name: str) -> Any:
    with open(PACKAGE_DIR / name, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@cache
def settings() -> Settings:
    raw = _read_yaml("settings.yaml")
    return Settings(identifiable_columns=frozenset(raw["identifiable_columns"]),
                    unexpected_examples=int(raw["unexpected_examples"]),
                    foreign_key_value_set_limit=int(raw["foreign_key_value_set_limit"]),
                    data_docs_site_name=str(raw["data_docs_site_name"]))


@cache
def code_lists() -> Mapping[str, Any]:
    """carebridge's shared code lists with this package's extra lists added (names never overlap)."""
    shared, extra = codes(), _read_yaml("code_lists.yaml")
    clash = sorted(set(shared) & set(extra))
    if clash:
        raise ValueError(f"expectations/code_lists.yaml redefines shared code lists: {clash}")
    return {**shared, **extra}


@cache
def _contracts() -> Mapping[str, Any]:
    return _read_yaml("contracts.yaml")


def contract_columns(layer: str, table: str) -> tuple[str, ...]:
    """The columns `layer`/`table` has by contract (staged tables include the provenance columns)."""
    contracts = _contracts()
    columns = tuple(contracts[layer][table])
    return tuple(contracts["staged_common"]) + columns if layer == "staged" else columns
