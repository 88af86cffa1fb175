"""Imports run one way (docs/internals.md): the import-linter contracts of pyproject.toml hold over
the real import graph, and every package of the product is in a layer of them."""

from __future__ import annotations

import ast
import inspect
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


def _source_files(*packages: str):
    for package in packages:
        yield from sorted((ROOT / package).rglob("*.py"))


def test_installing_carebridge_claims_only_the_design_s_top_level_names():
    from setuptools import find_packages

    found = find_packages(str(ROOT), include=_config_packages())
    assert {name.split(".")[0] for name in found} == {"carebridge", "pipelines", "fhir_mapping", "expectations",
                                                      "warehouse"}


def _config_packages() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return project["tool"]["setuptools"]["packages"]["find"]["include"]


def _constructs_a_dialect(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(node, ast.Call) and getattr(node.func, "id", "").endswith("Dialect")
               for node in ast.walk(tree))


def test_each_backend_s_view_dialect_lives_with_its_engine_and_the_compiler_names_none():
    from warehouse.engines import backend_class
    from warehouse.viewdef.dialect import get_dialect

    for name in ("duckdb", "postgresql"):
        dialect = backend_class(name).view_dialect
        assert get_dialect(name) is dialect and dialect.name == name
        assert (ROOT / "warehouse" / "engines" / f"{name}_dialect.py").exists()
    assert get_dialect("spark").name == "spark"           # Spark's is in warehouse/engines/spark_views.py
    builders = {p.name for p in (ROOT / "warehouse" / "viewdef").glob("*.py") if _constructs_a_dialect(p)}
    assert not builders, builders


_DRIVERS = {"duckdb", "psycopg"}


def _names_a_driver(path: Path) -> bool:
    """An import of a backend's driver (anywhere in the file), or a name or argument spelled as one."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] in _DRIVERS for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in _DRIVERS:
            return True
        if (isinstance(node, ast.Name) and node.id in _DRIVERS) or (isinstance(node, ast.arg) and node.arg in _DRIVERS):
            return True
    return False


def test_each_backend_s_view_loader_and_runner_live_with_its_engine():
    from warehouse.engines import backend_class

    for name in ("duckdb", "postgresql", "spark"):
        views = ROOT / "warehouse" / "engines" / f"{name}_views.py"
        assert views.exists() and f"warehouse.engines.{name}_views" in inspect.getsource(backend_class(name))
    users = {p.name for p in (ROOT / "warehouse" / "viewdef").glob("*.py")
             if _names_a_driver(p) or "pyspark" in p.read_text(encoding="utf-8")}
    assert not users, users


def test_the_warehouse_url_is_read_from_the_environment_in_one_place():
    readers = []
    for path in _source_files("carebridge", "pipelines", "warehouse", "fhir_mapping", "expectations"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value == "CAREBRIDGE_WAREHOUSE_URL":
                readers.append(path.relative_to(ROOT).as_posix())
    assert readers == ["carebridge/core/settings.py"], readers


def test_the_landing_sources_are_written_down_once():
    """carebridge.core.layout.SOURCES; everything else imports it (the generator reads the extract spec)."""
    writers = []
    for path in _source_files("carebridge", "pipelines", "warehouse", "fhir_mapping", "expectations"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and {"gp", "mhsds", "talking_therapies", "vcse"} <= {
                    e.value for e in node.elts if isinstance(e, ast.Constant)}:
                writers.append(path.relative_to(ROOT).as_posix())
    assert writers == ["carebridge/core/layout.py"], writers
