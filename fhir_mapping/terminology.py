"""The URLs and mapping rules of the FHIR mapping, read from the package's YAML files.

`terminology.yaml` holds every system, profile and extension URL; `code_maps.yaml` the mapping's
own code maps; `inputs.yaml` the staged columns read. Code never spells a URL itself: it asks
`system("snomed")`, `profile("Patient")`, `extension("attendance")`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["terminology", "code_maps", "inputs", "system", "profile", "extension", "local_identifier_system"]

_HERE = Path(__file__).parent


def _load(name: str) -> dict[str, Any]:
    with open(_HERE / name, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@cache
def terminology() -> dict[str, Any]:
    return _load("terminology.yaml")


@cache
def code_maps() -> dict[str, Any]:
    return _load("code_maps.yaml")


@cache
def inputs() -> dict[str, Any]:
    return _load("inputs.yaml")


def system(name: str) -> str:
    return terminology()["systems"][name]


def profile(resource_type: str) -> str:
    return terminology()["profiles"][resource_type]


def extension(name: str) -> str:
    return terminology()["extensions"][name]


def local_identifier_system(source: str, ods: str, table: str) -> str:
    """The identifier system of a provider's local ids in one table (`table="patient"` for patient ids)."""
    return terminology()["local_identifier"].format(source=source, ods=ods, table=table)
