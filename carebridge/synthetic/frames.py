"""The logical frames journeys are recorded in, before they are rendered as extract files.

A frame is one kind of record across all sources (every contact, every referral...), with a
`table` field saying which extract table a row belongs to. Builders append column chunks to a
`Recorder`; `Recorder.tables()` returns one typed Arrow table per frame. Integer `*_no` fields are
the generator's own numbers (local ids are formatted from them); `ref_no` ties contacts, scores and
care plans to their referral (-1: none); `extra` marks episodes that may be dropped to keep
referral matching unambiguous (synthetic/journeys.py).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa

__all__ = ["FRAMES", "Recorder", "Numbers", "schema"]

_S, _I, _D, _B = pa.string(), pa.int64(), pa.date32(), pa.bool_()

FRAMES: dict[str, dict[str, pa.DataType]] = {
    "gp_referrals": {
        "gp_ref_no": _I, "person": _I, "provider_ods": _S, "date": _D, "code": _S, "kind": _S,
        "target_ods": _S, "target_service": _S, "priority": _S, "ubrn": _S, "extra": _B,
    },
    "referrals": {
        "ref_no": _I, "source": _S, "provider_ods": _S, "table": _S, "person": _I, "service_code": _S,
        "received_date": _D, "source_code": _S, "referring_ods": _S, "referring_professional": _S,
        "priority": _S, "reason": _S, "rejected_date": _D, "reject_reason": _S, "discharge_date": _D,
        "close_reason": _S, "gp_ref_no": _I, "extra": _B,
    },
    "contacts": {
        "contact_no": _I, "ref_no": _I, "source": _S, "provider_ods": _S, "table": _S, "person": _I,
        "service_code": _S, "date": _D, "time": _S, "duration": _I, "mech_code": _S, "attend_code": _S,
        "app_type": _S, "activity": _S, "staff_role": _S, "cancel_date": _D, "team_local_id": _S,
        "location": _S, "consultation_no": _I,
    },
    "scores": {
        "score_no": _I, "ref_no": _I, "source": _S, "provider_ods": _S, "table": _S, "person": _I,
        "date": _D, "time": _S, "measure": _S, "item": _I, "value": _I, "tool_code": _S, "source_item": _S,
    },
    "care_plans": {
        "plan_no": _I, "ref_no": _I, "source": _S, "provider_ods": _S, "table": _S, "person": _I,
        "plan_code": _S, "crisis": _B, "created_date": _D, "last_update": _D, "implementation_date": _D,
        "domain": _S, "goal_text": _S, "plan_status": _S, "status_date": _D,
    },
    "coded_events": {
        "event_no": _I, "ref_no": _I, "person": _I, "provider_ods": _S, "date": _D, "code": _S,
        "value": _I, "consultation_no": _I, "staff_role": _S, "measure": _S,
    },
}


class Numbers:
    """Running numbers per name (1, 2, 3...), so ids depend only on the order records are made."""

    def __init__(self) -> None:
        self._next: dict[str, int] = defaultdict(lambda: 1)

    def take(self, name: str, n: int) -> np.ndarray:
        start = self._next[name]
        self._next[name] = start + n
        return np.arange(start, start + n, dtype=np.int64)


def _column(values: object, n: int, dtype: pa.DataType) -> pa.Array:
    if values is None:
        return pa.nulls(n, dtype)
    if np.isscalar(values):
        return pa.array(np.full(n, values, dtype=object), dtype, from_pandas=True)
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        return pa.array(arr.astype("datetime64[D]"), dtype, from_pandas=True)
    return pa.array(arr, dtype, from_pandas=True)


class Recorder:
    """Collects column chunks per frame; missing fields are null."""

    def __init__(self) -> None:
        self._chunks: dict[str, list[pa.Table]] = defaultdict(list)

    def add(self, frame: str, n: int, **columns: object) -> None:
        fields = FRAMES[frame]
        unknown = set(columns) - set(fields)
        if unknown:
            raise KeyError(f"{frame} has no fields {sorted(unknown)}")
        if n == 0:
            return
        arrays = [_column(columns.get(name), n, dtype) for name, dtype in fields.items()]
        self._chunks[frame].append(pa.Table.from_arrays(arrays, schema=schema(frame)))

    def tables(self) -> dict[str, pa.Table]:
        return {
            frame: pa.concat_tables(self._chunks[frame]) if self._chunks[frame] else schema(frame).empty_table()
            for frame in FRAMES
        }


def schema(frame: str) -> pa.Schema:
    return pa.schema(list(FRAMES[frame].items()))
