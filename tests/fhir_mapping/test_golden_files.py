"""Golden files: one representative record of every source table that becomes FHIR, in
`golden/<source>.<table>.json` as `{table, local_id, source_row, resources}`: the staged row in,
the exact FHIR JSON out (every resource made from it, compared as canonical JSON text).

The files were reviewed by hand once. After a deliberate mapping change, regenerate them and
review the diff before committing:

    CAREBRIDGE_REGENERATE_GOLDEN=1 pytest tests/fhir_mapping/test_golden_files.py

The data is the hand-made scenario of conftest.py (made-up people, test NHS numbers).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from fhir_mapping.ndjson import dumps
from fhir_mapping.terminology import local_identifier_system
from carebridge.staging import table_specs

GOLDEN = Path(__file__).parent / "golden"
REGENERATE = os.environ.get("CAREBRIDGE_REGENERATE_GOLDEN") == "1"

# table -> the scenario record that represents it (its local id)
RECORDS = {
    "gp.patient": "G1",
    "gp.coded_event": "E1",
    "gp.referral": "R2",
    "gp.appointment": "A1",
    "mhsds.MHS101Referral": "S1",
    "mhsds.MHS201CareContact": "C1",
    "mhsds.MHS008CarePlanType": "CP1",
    "mhsds.MHS606CodedScoreAssessmentRefer": "AS1",
    "talking_therapies.IDS101Referral": "TS1",
    "talking_therapies.IDS201CareContact": "TC1",
    "talking_therapies.IDS606CodedScoreAssessmentRefer": "TA1",
    "vcse.referral": "VR1",
    "vcse.contact": "VC1",
    "vcse.plan": "VP1",
    "vcse.wellbeing_score": "W1",
}
# Tables that make no resource of their own: they feed the person index (who is who, the Patient)
# or describe the extract.
NO_RESOURCE_OF_THEIR_OWN = {
    "mhsds.MHS000Header": "submission header",
    "mhsds.MHS001MPI": "person index input (the Patient comes from the index)",
    "mhsds.MHS002GP": "person index input (registered practice)",
    "mhsds.MHS102ServiceTypeReferredTo": "folded into the referral's service type",
    "talking_therapies.IDS001MPI": "person index input (the Patient comes from the index)",
    "vcse.person": "person index input (the Patient comes from the index)",
}


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


def _source_row(staged, table: str, local_id: str) -> dict[str, Any]:
    key = table_specs()[table].key[0]
    rows = [r for r in staged[table].to_pylist() if r[key] == local_id]
    assert len(rows) == 1, f"{table} {local_id}"
    return {k: _jsonable(v) for k, v in rows[0].items() if v is not None}


def _made_from(result, table: str, local_id: str) -> list[dict[str, Any]]:
    """Every resource whose own identifier is the record's local id in that table's system."""
    source, name = table.split(".", 1)
    pattern = re.escape(local_identifier_system(source, "ODS", name)).replace("ODS", "[^/]+")
    hits = [r for items in result.resources.values() for r in items
            if any(i.get("value") == local_id and re.fullmatch(pattern, i.get("system", "")) for i in r.get("identifier", []))]
    return sorted(hits, key=lambda r: (r["resourceType"], r["id"]))


def _golden(result, staged, table: str) -> dict[str, Any]:
    local_id = RECORDS[table]
    return {"table": table, "local_id": local_id, "source_row": _source_row(staged, table, local_id),
            "resources": _made_from(result, table, local_id)}


def _first_difference(expected: Any, actual: Any, path: str = "$") -> str:
    """Where two JSON values first differ (a path, not the values: the message stays short)."""
    if type(expected) is not type(actual):
        return f"{path}: {type(expected).__name__} != {type(actual).__name__}"
    if isinstance(expected, dict):
        for key in sorted(set(expected) | set(actual)):
            if key not in expected or key not in actual:
                return f"{path}.{key}: only in {'actual' if key in actual else 'golden'}"
            if expected[key] != actual[key] or dumps(expected[key]) != dumps(actual[key]):
                return _first_difference(expected[key], actual[key], f"{path}.{key}")
    if isinstance(expected, list):
        if len(expected) != len(actual):
            return f"{path}: {len(expected)} items != {len(actual)}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            if dumps(e) != dumps(a):
                return _first_difference(e, a, f"{path}[{i}]")
    return f"{path}: values differ"


def test_every_source_table_has_a_golden_record_or_a_reason():
    assert set(RECORDS) | set(NO_RESOURCE_OF_THEIR_OWN) == set(table_specs())
    assert not set(RECORDS) & set(NO_RESOURCE_OF_THEIR_OWN)


@pytest.mark.parametrize("table", sorted(RECORDS))
def test_golden_file(table, result, staged):
    path = GOLDEN / f"{table}.json"
    actual = _golden(result, staged, table)
    assert actual["resources"], f"{table} {RECORDS[table]} made no resource"
    if REGENERATE:
        GOLDEN.mkdir(exist_ok=True)
        readable = {**actual, "resources": json.loads(dumps(actual["resources"]))}  # keys sorted inside resources
        path.write_text(json.dumps(readable, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert expected["source_row"] == actual["source_row"], "the scenario's source row changed: " + \
        _first_difference(expected["source_row"], actual["source_row"])
    same = dumps(expected["resources"]) == dumps(actual["resources"])
    assert same, f"{table}: FHIR output differs from {path.name} at " + \
        _first_difference(expected["resources"], actual["resources"])
