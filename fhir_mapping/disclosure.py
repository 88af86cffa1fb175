"""The disclosure log: which organisation received which person's records, from whom, in which run.

Written from the bundles as sent (not from what should have been sent), one row per
(recipient, month, person, organisation whose records were shared) with the number of records.
The pipeline appends it to `audit.disclosure_log` on every run, as an audit trail for
direct-care sharing (docs/information-governance.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pyarrow as pa

__all__ = ["DISCLOSURE_LOG_SCHEMA", "bundle_disclosures", "disclosure_log"]

DISCLOSURE_LOG_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("recorded_at", pa.timestamp("us", tz="UTC")), ("recipient_ods", pa.string()),
    ("month", pa.string()), ("person_id", pa.string()), ("holder_ods", pa.string()), ("records", pa.int64()),
    ("action", pa.string()),   # 'sent', or 'retracted' (fhir_mapping.retraction)
])


def _subject_id(resource: Mapping[str, Any]) -> str | None:
    """The Patient id a record is about (`subject` or `patient`), if any."""
    reference = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
    return reference.split("/", 1)[1] if reference.startswith("Patient/") else None


def _holder(resource: Mapping[str, Any]) -> str:
    """The organisation whose record it is, from the record-source tag (`<source>|<ODS>`)."""
    tags = (resource.get("meta") or {}).get("tag") or [{}]
    return str(tags[0].get("code", "|")).split("|", 1)[-1]


def bundle_disclosures(bundle: Mapping[str, Any]) -> Counter[tuple[str, str]]:
    """(person id, holder ODS) -> number of that person's records from that holder in one bundle."""
    found: Counter[tuple[str, str]] = Counter()
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        person = _subject_id(resource)
        if person is not None:
            found[(person, _holder(resource))] += 1
    return found


def disclosure_log(bundles: Iterable[tuple[str, str, Mapping[str, Any]]], run_id: str,
                   recorded_at: datetime) -> pa.Table:
    """One row per recipient, month, person and holder, from (recipient ODS, month, logical bundle)
    triples (consumed one at a time, so the bundles need not all be in memory)."""
    rows: list[tuple[str, str, str, str, int]] = []
    for recipient, month, bundle in bundles:
        rows += [(recipient, month, person, holder, n)
                 for (person, holder), n in sorted(bundle_disclosures(bundle).items())]
    columns = list(zip(*rows)) or [(), (), (), (), ()]
    return pa.table([pa.array([run_id] * len(rows), pa.string()),
                     pa.array([recorded_at] * len(rows), pa.timestamp("us", tz="UTC")),
                     *(pa.array(c, t.type) for c, t in zip(columns, list(DISCLOSURE_LOG_SCHEMA)[2:7])),
                     pa.array(["sent"] * len(rows), pa.string())],
                    schema=DISCLOSURE_LOG_SCHEMA)
