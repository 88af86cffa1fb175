"""Render logical frames as extract rows: text values in source format, one record per row.

`render_table` gives, for one extract table, every logical record with its fields as text (the
names extracts.yaml maps columns to) plus meta columns: `_provider`, `_person`, `_key` (local
id), `_measure` (score rows) and `_first`/`_last` (the window months the record is delivered in). `explode_months` turns
records into delivered rows, one per month the record is sent, applying `reveal` rules.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .config import table_spec
from .local_ids import PersonIds, consultation_ids, format_ids, record_ids, referral_ids, table_prefix
from .vector import explode
from .window import Window

__all__ = ["render_table", "explode_months", "explode_presence", "NUMBER_FIELD", "month_of"]

NUMBER_FIELD = {"contacts": "contact_no", "referrals": "ref_no", "scores": "score_no", "care_plans": "plan_no",
                "coded_events": "event_no", "gp_referrals": "gp_ref_no"}


def month_of(dates: pa.ChunkedArray, window: Window, default: int) -> np.ndarray:
    """Window month index of each date; `default` where null."""
    days = pc.fill_null(pc.cast(dates, pa.int32()), -10**6).to_numpy(zero_copy_only=False).astype("datetime64[D]")
    months = window.month_index(days)
    return np.where(pc.is_null(dates).to_numpy(zero_copy_only=False), default, months)


def _spans(frame: str, rows: pa.Table, source: str, window: Window) -> tuple[np.ndarray, np.ndarray]:
    last_month = len(window.months) - 1
    if frame == "referrals":
        first = month_of(rows["received_date"], window, 0)
        closed = pc.coalesce(rows["discharge_date"], rows["rejected_date"])
        return first, month_of(closed, window, last_month)
    if frame == "care_plans":
        first = month_of(rows["created_date"], window, 0)
        if source == "vcse":  # re-sent until the referral closes
            return first, np.maximum(first, month_of(rows["status_date"], window, last_month))
        return first, np.maximum(first, month_of(rows["last_update"], window, -1))  # created, and when updated
    if frame == "person_records":
        return np.zeros(len(rows), np.int64), np.zeros(len(rows), np.int64)   # delivered by presence
    first = month_of(rows["date"], window, 0)
    return first, first


def _text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return column if pa.types.is_string(column.type) else pc.cast(column, pa.string())


def _derived(source: str, frame: str, person_ids: PersonIds) -> dict[str, Callable[[pa.Table], pa.Array]]:
    """Fields that are not frame columns as they stand."""
    def local_id(rows: pa.Table) -> pa.Array:
        if frame == "person_records":
            return rows["local_id"]
        if frame in ("gp_referrals", "coded_events"):
            table = "referral" if frame == "gp_referrals" else "coded_event"
            return format_ids(table_prefix("gp", table), rows[NUMBER_FIELD[frame]])
        return record_ids(rows, NUMBER_FIELD[frame])

    def stamp(rows: pa.Table) -> pa.Array:
        return pc.binary_join_element_wise(_text(rows["date"]), rows["time"], "T")

    return {
        "local_id": local_id,
        "patient_local_id": lambda rows: person_ids.lookup(
            source, rows["provider_ods"].to_numpy(zero_copy_only=False), rows["person"].to_numpy()),
        "referral_local_id": lambda rows: referral_ids(rows["source"], rows["ref_no"]),
        "consultation_id": lambda rows: consultation_ids(rows["consultation_no"]),
        "start": stamp,
        "timestamp": stamp,
        "status": lambda rows: rows["close_reason"],
        "closed_date": lambda rows: _text(pc.coalesce(rows["discharge_date"], rows["rejected_date"])),
    }


def render_table(frames: dict[str, pa.Table], source: str, table: str, person_ids: PersonIds,
                 window: Window) -> pa.Table:
    """Every logical record of one extract table, with text fields and meta columns."""
    spec = table_spec(source, table)
    frame = spec["frame"]
    rows = frames[frame]
    if "table" in rows.column_names:
        rows = rows.filter(pc.equal(rows["table"], spec.get("rows", table)))
    if "source" in rows.column_names:
        rows = rows.filter(pc.equal(rows["source"], source))
    derived = _derived(source, frame, person_ids)
    reveal = spec.get("reveal", {})
    fields = list(dict.fromkeys([*spec["columns"].values(), *reveal, *(r["when"] for r in reveal.values())]))
    first, last = _spans(frame, rows, source, window)
    columns = {name: (derived[name](rows) if name in derived else _text(rows[name])) for name in fields}
    columns.update({"_provider": rows["provider_ods"], "_person": rows["person"], "_key": derived["local_id"](rows),
                    "_first": pa.array(first, pa.int64()), "_last": pa.array(last, pa.int64()),
                    "_measure": rows["measure"] if "measure" in rows.column_names
                    else pa.nulls(len(rows), pa.string())})
    return pa.table(columns)


def _reveal(rows: pa.Table, reveal: dict, month_text: pa.Array) -> pa.Table:
    """Hide final values (a discharge date, a closed status) in deliveries before they happened."""
    for field, rule in reveal.items():
        when = pc.utf8_slice_codeunits(rows[rule["when"]], 0, 7)
        shown = pc.fill_null(pc.less_equal(when, month_text), False)
        interim = pa.scalar(rule.get("interim"), pa.string())
        rows = rows.set_column(rows.schema.get_field_index(field), field, pc.if_else(shown, rows[field], interim))
    return rows


def _delivered(rows: pa.Table, month: np.ndarray, spec: dict, window: Window) -> pa.Table:
    month_text = pa.array(np.array(window.months, dtype=object)[month], pa.string())
    rows = _reveal(rows, spec.get("reveal", {}), month_text)
    columns = {"_provider": rows["_provider"], "_month": pa.array(month, pa.int64()), "_person": rows["_person"],
               "_key": rows["_key"]}
    columns.update({column: rows[field] for column, field in spec["columns"].items()})
    return pa.table(columns)


def explode_months(rendered: pa.Table, source: str, table: str, window: Window) -> pa.Table:
    """One delivered row per record per month from `_first` to `_last`."""
    first, last = rendered["_first"].to_numpy(), rendered["_last"].to_numpy()
    last = np.clip(last, first, len(window.months) - 1)
    parent, position = explode(last - first + 1)
    return _delivered(rendered.take(pa.array(parent, pa.int64())), first[parent] + position,
                      table_spec(source, table), window)


def explode_presence(rendered: pa.Table, source: str, table: str, window: Window,
                     record: np.ndarray, month: np.ndarray) -> pa.Table:
    """Delivered rows of person-level records: record `record[i]` is sent in month `month[i]`."""
    return _delivered(rendered.take(pa.array(record, pa.int64())), month, table_spec(source, table), window)
