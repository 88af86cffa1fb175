"""The data dictionary on the PostgreSQL warehouse of a real run: every column of `analytics` and
`published` described and commented (COMMENT ON), nothing described that is not there."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_CHECK = Path(__file__).resolve().parents[1] / "warehouse" / "test_dictionary.py"


def _check():
    spec = importlib.util.spec_from_file_location("dictionary_checks", _CHECK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.check_warehouse_is_described


def test_every_column_of_a_built_postgresql_warehouse_is_described(postgres_run, record_property):
    checked = _check()(postgres_run.warehouse_url)
    record_property("figure: dictionary columns described (postgresql)", checked)
    assert checked > 250
