"""No direct identifiers in `analytics` or `published` (outputs.md B), on a generated system.

Every column of every table of both schemas is scanned for NHS numbers (ten digits passing the
check digit), the ground truth's given and family names as whole values, full postcodes, and
birth dates (a date equal to the row's own person's birth date; in tables without person_key,
any truth birth date). The scanner is first shown to find each kind where it is planted.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file (pytest runs in importlib mode)
from privacy_support import scan_schema, scan_table, schema_tables


def test_the_scanner_finds_each_kind_of_identifier_where_it_is_planted():
    planted = pa.table({
        "nhs": ["9434765919", "943 476 5919", "9434765918", None],    # valid, valid 3-3-4, bad check digit
        "name": ["Ada", "ADA ", "Adams", None],
        "note": ["lives at QZ14 2NG", "QZ14", "E01900014", None],      # full postcode; outward only; an LSOA
        "born": pa.array([date(1990, 5, 1), date(2025, 1, 2), None, None]),
        "person_key": ["k1", "k2", "k3", None],
    })
    found = {(f.column, f.kind): f.rows for f in scan_table("t", planted, {"ada"}, {"1990-05-01"})}
    assert found == {("nhs", "nhs_number"): 2, ("name", "name"): 2, ("note", "postcode"): 1, ("born", "birth_date"): 1}
    # With each row's own birth date, only a date on its own person's row counts.
    own = ["1990-05-01", "1990-05-01", None, None]
    found = {(f.column, f.kind) for f in scan_table("t", planted, set(), set(), own)}
    assert found == {("nhs", "nhs_number"), ("note", "postcode"), ("born", "birth_date")}


@pytest.mark.parametrize("schema", ["analytics", "published"])
@pytest.mark.parametrize("run_name", ["duckdb_run", "opt_out_run"])
def test_no_direct_identifier_in_any_column_of_any_table(schema, run_name, request, generated_system, helpers, tmp_path):
    run = request.getfixturevalue(run_name)
    run = getattr(run, "run", run)
    with helpers.duckdb_copy(run, tmp_path) as engine:
        tables = schema_tables(engine, schema)
        findings, scanned = scan_schema(engine, schema, generated_system.truth)
    assert len(tables) >= 4 and scanned > 500, "the scan must cover a populated schema"
    assert findings == [], f"direct identifiers in {schema}"   # findings name table, column and kind only
