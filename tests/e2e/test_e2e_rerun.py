"""Re-running the same job over the same landing area into the same output folder changes nothing:
every warehouse table (all schemas, sorted rows) and every file under fhir/ stays byte-identical."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file (pytest runs in importlib mode)
from e2e_snapshot import is_append_only  # noqa: E402

pytestmark = pytest.mark.e2e


def test_every_warehouse_table_is_unchanged_by_a_rerun(clean_system):
    first, second = clean_system.json("run1.json")["tables"], clean_system.json("run2.json")["tables"]
    assert set(first) == set(second)
    assert {"analytics.person", "published.pathways", "audit.quarantine", "reference.measure"} <= set(first)
    changed = sorted(t for t in first if first[t]["digest"] != second[t]["digest"])
    assert changed == []
    for table in first:  # a run log gains one run's rows, or none when its stage had nothing new; nothing else grows
        grown = (1, 2) if is_append_only(table) else (1,)
        assert second[table]["rows"] in [first[table]["rows"] * n for n in grown], table


def test_every_fhir_file_is_byte_identical_after_a_rerun(clean_system):
    first, second = clean_system.json("run1.json")["fhir"], clean_system.json("run2.json")["fhir"]
    assert any(p.startswith("ndjson/") for p in first) and any(p.startswith("bundles/") for p in first)
    assert first == second
