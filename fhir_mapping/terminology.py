"""The URLs and mapping rules of the FHIR mapping, read from the package's YAML files.

`terminology.yaml` holds every system, profile and extension URL; `code_maps.yaml` the mapping's
own code maps; `inputs.yaml` the staged columns read. Code never spells a URL itself: it asks
`system("snomed")`, `profile("Patient")`, `extension("attendance")`.
"""

from __future__ import annotations

import os
from functools import cache
from urllib.parse import urlsplit
from pathlib import Path
from typing import Any

import yaml

__all__ = ["BASE_ENV", "default_base", "terminology", "code_maps", "inputs", "system", "profile", "extension", "local_identifier_system"]

_HERE = Path(__file__).parent


def _load(name: str) -> dict[str, Any]:
    with open(_HERE / name, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


BASE_ENV = "CAREBRIDGE_FHIR_BASE"


def _with_base(value: Any, base: str) -> Any:
    if isinstance(value, str):
        return value.replace("{base}", base)
    if isinstance(value, dict):
        return {k: _with_base(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_base(v, base) for v in value]
    return value


def default_base() -> str:
    """The base URL terminology.yaml declares (the ViewDefinitions are written with it)."""
    return _load("terminology.yaml")["base"]


@cache
def terminology() -> dict[str, Any]:
    """terminology.yaml with `{base}` replaced by the configured base URL (CAREBRIDGE_FHIR_BASE,
    else the file's `base`), without a trailing slash."""
    raw = _load("terminology.yaml")
    base = (os.environ.get(BASE_ENV) or raw["base"]).rstrip("/")
    if urlsplit(base).scheme not in ("https", "http") or not urlsplit(base).netloc:
        raise ValueError(f"{BASE_ENV} must be an absolute http(s) URL, got {base!r}")
    return {**_with_base(raw, base), "base": base}


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
