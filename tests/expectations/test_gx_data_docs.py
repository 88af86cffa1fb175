"""File-mode runs: results accumulate under the context root, Data Docs cover them, re-runs work."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from expectations.runner import build_data_docs, validate_table

NHS_NUMBER = "9434765919"
BAD_NHS_NUMBER = "94347659"


def _service() -> pa.Table:
    return pa.table({"service_key": ["s1", "s1"], "provider_ods": ["RZZ", "RZZ"],
                     "setting": ["secondary", "hospital"], "level": ["place", "place"]})


def _patient() -> pa.Table:
    return pa.table({
        "provider_ods": ["Z90001"] * 2, "reporting_month": ["2025-01"] * 2, "submission_id": ["s1"] * 2,
        "source_file": ["gp/Z90001/2025-01/s1/patient.csv"] * 2, "source_line": pa.array([2, 3], pa.int64()),
        "patient_id": ["p1", "p2"], "nhs_number": [NHS_NUMBER, BAD_NHS_NUMBER],
        "nhs_number_check": ["valid", "valid"], "family_name": ["Zebedee", "Quill"],
        "birth_date": pa.array([date(1970, 1, 1), date(1850, 3, 4)]), "sex": ["F", "M"],
        "registration_start": pa.array([date(2000, 1, 1), date(1840, 1, 1)]),
    })


def _run_once(root: Path) -> None:
    service = validate_table("analytics", "service", _service(), context_root=root)
    assert not service.passed_errors  # duplicate key and an unknown setting
    patient = validate_table("staged", "gp.patient", _patient(), context_root=root)
    assert not patient.passed_errors


@pytest.fixture(scope="module")
def run_twice(tmp_path_factory) -> tuple[Path, Path]:
    """Validate two tables twice into one context root (a re-run replaces suites by name)."""
    out = tmp_path_factory.mktemp("out")
    _run_once(out / "gx")
    _run_once(out / "gx")
    return out / "gx", out / "data_docs"


def test_data_docs_index_mentions_every_validated_suite(run_twice):
    root, site = run_twice
    index = build_data_docs(root, site)
    assert index == site.resolve() / "index.html" and index.is_file()
    html = index.read_text(encoding="utf-8")
    for suite in ("analytics.service", "staged.gp.patient", "staged.gp.patient.identifiable"):
        assert suite in html
    assert list((site / "validations").rglob("*.html"))


def test_rerun_replaces_suites_and_keeps_every_validation_result(run_twice):
    root, _ = run_twice
    suites = sorted(p.name for p in (root / "expectations").rglob("*.json"))
    assert suites.count("service.json") == 1
    results = list((root / "uncommitted" / "validations").rglob("*.json"))
    assert len([p for p in results if "service" in str(p)]) == 2  # one per run
    assert len(list((root / "checkpoints").glob("*.json"))) == 3


def test_no_identifiable_value_is_stored_or_published(run_twice):
    root, site = run_twice
    build_data_docs(root, site)
    files = [p for d in (root, site) for p in d.rglob("*") if p.suffix in (".json", ".html", ".yml")]
    assert files
    text = "\n".join(p.read_text(encoding="utf-8", errors="ignore") for p in files)
    for value in (NHS_NUMBER, BAD_NHS_NUMBER, "Zebedee", "Quill", "1850-03-04"):
        assert value not in text
    assert "hospital" in text  # non-identifiable examples are shown


def test_validation_can_update_the_site_as_it_runs(tmp_path):
    site = tmp_path / "docs"
    validate_table("analytics", "service", _service(), context_root=tmp_path / "gx", site_dir=site)
    assert "analytics.service" in (site / "index.html").read_text(encoding="utf-8")
