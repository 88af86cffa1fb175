"""Record-level data faults (faults.yaml) and the log of every fault injected (truth/faults.csv).

Record faults change a logical record's text fields before it is delivered, so every delivered
version of the record carries the fault. Each record gets at most one record fault: a uniform
draw u picks kind i when i*r <= u < (i+1)*r (r capped so the kinds fit in [0, 1)).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from carebridge.core.reference import codes

from .config import faults, params

__all__ = ["FAULT_COLUMNS", "FaultLog", "record_fault_kinds", "apply_record_faults", "typo"]

FAULT_COLUMNS = ("kind", "source", "provider_ods", "reporting_month", "submission_id", "table", "local_id",
                 "detail", "effect")


def effect_of(kind: str) -> str:
    for level in ("record", "row", "file", "demographic"):
        if kind in faults().get(level, {}):
            return faults()[level][kind]["effect"]
    raise KeyError(kind)


class FaultLog:
    """Faults injected, and how many opportunities each kind had (for checking rates)."""

    def __init__(self) -> None:
        self._chunks: list[pa.Table] = []
        self.opportunities: Counter[str] = Counter()

    def add(self, kind: str, source: str, provider: np.ndarray | str, month: np.ndarray | str,
            submission: np.ndarray | str, table: str, local_id: np.ndarray | str | None,
            detail: np.ndarray | str) -> None:
        n = len(local_id) if isinstance(local_id, (np.ndarray, list)) else 1
        if n == 0:
            return
        values = [kind, source, provider, month, submission, table, local_id, detail, effect_of(kind)]
        arrays = [pa.array(np.broadcast_to(np.asarray(v, dtype=object), (n,)), pa.string()) for v in values]
        self._chunks.append(pa.Table.from_arrays(arrays, names=list(FAULT_COLUMNS)))

    def table(self) -> pa.Table:
        if not self._chunks:
            return pa.schema([(c, pa.string()) for c in FAULT_COLUMNS]).empty_table()
        return pa.concat_tables(self._chunks)

    def counts(self) -> dict[str, int]:
        kinds = self.table()["kind"].to_pylist()
        return dict(sorted(Counter(kinds).items()))


def record_fault_kinds(source: str, table: str) -> list[str]:
    name = f"{source}.{table}"
    return [kind for kind, spec in faults()["record"].items() if name in spec["tables"]]


# --- what each fault needs and does --------------------------------------------------------------

def _not_null(field: str) -> Callable[[pa.Table], np.ndarray]:
    return lambda rows: pc.is_valid(rows[field]).to_numpy(zero_copy_only=False)


def _discharge_field(rows: pa.Table) -> str:
    return "discharge_date" if "discharge_date" in rows.column_names else "closed_date"


def _closed(rows: pa.Table) -> np.ndarray:
    closed = pc.is_valid(rows[_discharge_field(rows)])
    if "status" in rows.column_names:  # VCSE: a declined referral has a closed date but was never open
        closed = pc.and_(closed, pc.equal(rows["status"], "closed"))
    return pc.fill_null(closed, False).to_numpy(zero_copy_only=False)


_APPLIES: dict[str, Callable[[pa.Table], np.ndarray]] = {
    "invalid_nhs_number": _not_null("nhs_number"),
    "missing_nhs_number": _not_null("nhs_number"),
    "name_typo": lambda rows: _not_null("given_name")(rows) & _not_null("family_name")(rows),
    "moved_postcode": _not_null("postcode"),
    "unknown_code": lambda rows: np.ones(len(rows), dtype=bool),
    "date_out_of_range": lambda rows: np.ones(len(rows), dtype=bool),
    "score_out_of_range": _not_null("_measure"),
    "discharge_before_receipt": _closed,
}


def typo(name: str, choice: int) -> str:
    """A plausible keying error, never the name itself: swap two neighbouring letters, drop one,
    or double one (`choice` picks which and where; the first letter is kept where possible)."""
    if len(name) < 2:
        return name * 2
    i = 1 + choice % max(len(name) - 2, 1)
    j = i + 1 if i + 1 < len(name) else i - 1
    kind = choice % 3
    if kind == 0 and name[i] != name[j]:
        a, b = sorted((i, j))
        return name[:a] + name[b] + name[a] + name[b + 1:]
    if kind == 1 and len(name) > 3:
        return name[:i] + name[i + 1:]
    return name[:i] + name[i] + name[i:]


def _mutate(rows: pa.Table, field: str, picked: np.ndarray, new_values: list) -> pa.Table:
    values = rows[field].to_numpy(zero_copy_only=False).astype(object)
    values[picked] = new_values
    return rows.set_column(rows.schema.get_field_index(field), field, pa.array(values, pa.string()))


def _invalid_nhs(rows, picked, rng):
    old = rows["nhs_number"].to_numpy(zero_copy_only=False)[picked]
    bump = rng.integers(1, 10, len(picked))
    new = [f"{v[:9]}{(int(v[9]) + b) % 10}" for v, b in zip(old, bump)]
    details = [f"NHS number check digit changed: {o} -> {n}" for o, n in zip(old, new)]
    return _mutate(rows, "nhs_number", picked, new), details


def _missing_nhs(rows, picked, rng):
    rows = _mutate(rows, "nhs_number", picked, [None] * len(picked))
    if "nhs_status" in rows.column_names:
        rows = _mutate(rows, "nhs_status", picked, [None] * len(picked))
    return rows, "NHS number left out"


def _name_typo(rows, picked, rng):
    field = np.where(rng.random(len(picked)) < 0.5, "given_name", "family_name")
    choice = rng.integers(0, 1000, len(picked))
    details = np.empty(len(picked), dtype=object)
    for name in ("given_name", "family_name"):
        mine = field == name
        old = rows[name].to_numpy(zero_copy_only=False)[picked[mine]]
        new = [typo(v, c) for v, c in zip(old, choice[mine])]
        rows = _mutate(rows, name, picked[mine], new)
        details[mine] = [f"{name} {o} -> {n}" for o, n in zip(old, new)]
    return rows, details


def _moved_postcode(rows, picked, rng):
    area = params()["population"]["postcode_area"]
    old = rows["postcode"].to_numpy(zero_copy_only=False)[picked]
    district = np.array([int(v.split()[0][len(area):]) for v in old])
    moved = (district + rng.integers(1, 40, len(picked)) - 1) % 60 + 1
    letters = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))[rng.integers(0, 20, (len(picked), 2))]
    new = [f"{area}{d} {k}{a}{b}" for d, k, (a, b) in zip(moved, rng.integers(0, 10, len(picked)), letters)]
    return _mutate(rows, "postcode", picked, new), [f"postcode {o} -> {n}" for o, n in zip(old, new)]


def _unknown_code(rows, picked, rng):
    value = faults()["record"]["unknown_code"]["value"]
    old = rows["attend_code"].to_numpy(zero_copy_only=False)[picked]
    return _mutate(rows, "attend_code", picked, [value] * len(picked)), [f"attendance {o} -> {value}" for o in old]


def _date_out_of_range(rows, picked, rng):
    field = "start" if "start" in rows.column_names else "date"
    years = np.array(faults()["record"]["date_out_of_range"]["years"])[rng.integers(0, 2, len(picked))]
    old = rows[field].to_numpy(zero_copy_only=False)[picked]
    new = [f"{y}{v[4:]}" for y, v in zip(years, old)]
    return _mutate(rows, field, picked, new), [f"{field} {o} -> {n}" for o, n in zip(old, new)]


def _score_out_of_range(rows, picked, rng):
    measures = rows["_measure"].to_numpy(zero_copy_only=False)[picked]
    top = np.array([codes()["measures"][m]["max"] for m in measures])
    lo, hi = faults()["record"]["score_out_of_range"]["above_max"]
    new = (top + rng.integers(lo, hi + 1, len(picked))).astype(str)
    old = rows["value"].to_numpy(zero_copy_only=False)[picked]
    return (_mutate(rows, "value", picked, list(new)),
            [f"{m} {o} -> {n} (max {t})" for m, o, n, t in zip(measures, old, new, top)])


def _discharge_before_receipt(rows, picked, rng):
    field = _discharge_field(rows)
    lo, hi = faults()["record"]["discharge_before_receipt"]["days_before"]
    received = rows["received_date"].to_numpy(zero_copy_only=False)[picked].astype("datetime64[D]")
    new = (received - rng.integers(lo, hi + 1, len(picked)).astype("timedelta64[D]")).astype(str)
    old = rows[field].to_numpy(zero_copy_only=False)[picked]
    return (_mutate(rows, field, picked, list(new)),
            [f"{field} {o} -> {n} (received {r})" for o, n, r in zip(old, new, received.astype(str))])


_MUTATIONS = {
    "invalid_nhs_number": _invalid_nhs, "missing_nhs_number": _missing_nhs, "name_typo": _name_typo,
    "moved_postcode": _moved_postcode, "unknown_code": _unknown_code, "date_out_of_range": _date_out_of_range,
    "score_out_of_range": _score_out_of_range, "discharge_before_receipt": _discharge_before_receipt,
}


def apply_record_faults(rows: pa.Table, source: str, table: str, rate: float, rng: np.random.Generator,
                        log: FaultLog, months: tuple[str, ...],
                        submission: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> pa.Table:
    """Inject the record faults of one extract table into its rendered records; log each one."""
    kinds = record_fault_kinds(source, table)
    if not kinds or rate <= 0 or len(rows) == 0:
        return rows
    share = min(rate, 1.0 / len(kinds))
    draw = rng.random(len(rows))
    chosen = np.where(draw < share * len(kinds), (draw / share).astype(np.int64), -1)
    for i, kind in enumerate(kinds):
        applies = _APPLIES[kind](rows)
        log.opportunities[kind] += int(applies.sum())
        picked = np.flatnonzero((chosen == i) & applies)
        if len(picked) == 0:
            continue
        keys = rows["_key"].to_numpy(zero_copy_only=False)[picked]
        providers = rows["_provider"].to_numpy(zero_copy_only=False)[picked]
        last = rows["_last"].to_numpy()[picked]
        rows, detail = _MUTATIONS[kind](rows, picked, rng)
        log.add(kind, source, providers, np.array(months, dtype=object)[last], submission(providers, last),
                table, keys, detail)
    return rows
