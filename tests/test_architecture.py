"""Imports run one way (docs/internals.md): the import-linter contracts of pyproject.toml hold over
the real import graph, and every package of the product is in a layer of them."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import carebridge
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]


def test_the_import_contracts_hold():
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0


def test_every_package_sits_in_a_layer():
    layered = {name.strip() for layer in _config()["contracts"][0]["layers"]
               for name in layer.replace("|", ":").split(":")}
    modules = {f"carebridge.{m.name}" for m in pkgutil.iter_modules(carebridge.__path__)}
    assert modules | {"pipelines", "fhir_mapping", "expectations", "warehouse"} <= layered, \
        sorted((modules | {"pipelines", "fhir_mapping", "expectations", "warehouse"}) - layered)
