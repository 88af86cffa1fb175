"""Deliveries to the landing area: which files each provider sends each month, the file-level and
row-level faults, and writing CSV / Parquet.

    <landing>/<source>/<provider ODS>/<YYYY-MM>/<submission id>/<table>.csv   (or .parquet)
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .config import extracts, faults, params, table_spec
from .faults import FaultLog
from .window import Window, submission_id

__all__ = ["Delivery", "Schedule", "ExtractFile", "build_files", "inject_file_faults", "write_files", "csv_bytes"]

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Delivery:
    source: str
    provider: str
    month: int
    submission_id: str
    superseded_id: str | None = None     # an earlier, partial submission for the same month


class Schedule:
    """Every delivery in the window, with submission ids a few days after each month ends."""

    def __init__(self, providers: dict[str, tuple[str, ...]], window: Window, resubmit_rate: float,
                 rng: np.random.Generator) -> None:
        d = params()["delivery"]
        lo, hi = d["submission_day_offsets"]
        keys = [(s, p, m) for s, ps in providers.items() for p in ps for m in range(len(window.months))]
        order = {p: i for i, p in enumerate(sorted({p for _, p, _ in keys}))}
        resubmitted = set(_choose(rng, len(keys), resubmit_rate).tolist())
        self.deliveries: list[Delivery] = []
        for i, (source, provider, month) in enumerate(keys):
            k = order[provider]
            offset, time = lo + k % (hi - lo + 1), d["submission_times"][k % len(d["submission_times"])]
            base = submission_id(window.months[month], offset, time)
            if i in resubmitted:
                later = submission_id(window.months[month], offset + d["resubmission_delay_days"], time)
                self.deliveries.append(Delivery(source, provider, month, later, base))
            else:
                self.deliveries.append(Delivery(source, provider, month, base))
        self._final = {(x.source, x.provider, x.month): x.submission_id for x in self.deliveries}

    def final_ids(self, source: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """A function giving the final submission id for arrays of providers and months."""
        def ids(providers: np.ndarray, months: np.ndarray) -> np.ndarray:
            return np.array([self._final[(source, p, int(m))] for p, m in zip(providers, months)], dtype=object)
        return ids


def _choose(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """Indices picked with probability `rate` each; at least one when rate > 0 and n > 0."""
    picked = np.flatnonzero(rng.random(n) < rate)
    if rate > 0 and n > 0 and len(picked) == 0:
        picked = np.array([rng.integers(0, n)])
    return picked


@dataclass(frozen=True)
class ExtractFile:
    delivery: Delivery
    month: str                           # YYYY-MM
    submission_id: str
    table: str
    rows: pa.Table                       # the file's columns, as text
    keys: np.ndarray                     # each row's local id (None for the header table)
    fmt: str = "csv"
    encoding: str = "utf-8"
    bom: bool = False
    truncate: bool = False
    faults: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return f"{self.delivery.source}.{self.table}"

    @property
    def final(self) -> bool:
        return self.submission_id == self.delivery.submission_id

    @property
    def path(self) -> Path:
        d = self.delivery
        return Path(d.source, d.provider, self.month, self.submission_id, f"{self.table}.{self.fmt}")


def _split(table: pa.Table) -> dict[tuple[str, int], pa.Table]:
    """Rows of one extract table per (provider, month), each in local id order."""
    table = table.sort_by([("_provider", "ascending"), ("_month", "ascending"), ("_key", "ascending")])
    provider = table["_provider"].to_numpy(zero_copy_only=False)
    month = table["_month"].to_numpy()
    if len(table) == 0:
        return {}
    starts = np.flatnonzero(np.r_[True, (provider[1:] != provider[:-1]) | (month[1:] != month[:-1])])
    ends = np.r_[starts[1:], len(table)]
    return {(provider[s], int(month[s])): table.slice(s, e - s) for s, e in zip(starts, ends)}


def _header(delivery: Delivery, month: str, submission: str) -> pa.Table:
    first = np.datetime64(month, "M")
    first, last = first.astype("datetime64[D]"), (first + 1).astype("datetime64[D]") - 1
    created = f"{submission[:4]}-{submission[4:6]}-{submission[6:8]}T{submission[9:11]}:{submission[11:13]}:00"
    values = {"provider_ods": delivery.provider, "period_start": str(first), "period_end": str(last),
              "created": created}
    return pa.table({column: pa.array([values[f]], pa.string())
                     for column, f in table_spec(delivery.source, "MHS000Header")["columns"].items()})


def _format_of(provider: str, organisations: dict[str, list[str]]) -> str:
    rule = params()["delivery"]["parquet_organisation"]
    kind = organisations.get(rule["kind"], [])
    return "parquet" if kind and provider == kind[rule["position"]] else "csv"


def build_files(delivered: dict[tuple[str, str], pa.Table], schedule: Schedule, window: Window,
                organisations: dict[str, list[str]]) -> list[ExtractFile]:
    """Every final file of every delivery (tables with no rows that month are sent with a header only)."""
    split = {name: _split(table) for name, table in delivered.items()}
    bom = set(params()["delivery"]["bom_sources"])
    files = []
    for delivery in schedule.deliveries:
        for table, spec in extracts()["sources"][delivery.source]["tables"].items():
            month = window.months[delivery.month]
            if spec["frame"] == "header":
                rows, keys = _header(delivery, month, delivery.submission_id), np.array([None], dtype=object)
            else:
                part = split[(delivery.source, table)].get((delivery.provider, delivery.month))
                if part is None:
                    part = delivered[(delivery.source, table)].slice(0, 0)
                rows, keys = part.select(list(spec["columns"])), part["_key"].to_numpy(zero_copy_only=False)
            fmt = _format_of(delivery.provider, organisations)
            files.append(ExtractFile(delivery, month, delivery.submission_id, table, rows, keys, fmt,
                                     bom=delivery.source in bom and fmt == "csv"))
    return files


# --- file and row faults -------------------------------------------------------------------------

def _log(log: FaultLog, kind: str, f: ExtractFile, keys: Iterable | None, detail: str | np.ndarray) -> None:
    keys = np.array([None], dtype=object) if keys is None else np.asarray(list(keys), dtype=object)
    log.add(kind, f.delivery.source, f.delivery.provider, f.month, f.submission_id, f.table, keys, detail)


def _resubmissions(files: list[ExtractFile], rng: np.random.Generator, log: FaultLog) -> list[ExtractFile]:
    """The partial first submission of each resubmitted delivery (superseded by the full one)."""
    keep = params()["delivery"]["resubmission_keep_share"]
    partial = []
    for f in files:
        early_id = f.delivery.superseded_id
        if early_id is None:
            continue
        if f.table == "MHS000Header":
            early = replace(f, submission_id=early_id, rows=_header(f.delivery, f.month, early_id))
        else:
            rows = np.flatnonzero(rng.random(len(f.rows)) < keep)
            early = replace(f, submission_id=early_id, rows=f.rows.take(pa.array(rows, pa.int64())), keys=f.keys[rows])
        partial.append(early)
        _log(log, "resubmitted_month", early, None, f"partial submission ({len(early.rows)} of {len(f.rows)} rows) "
                                                    f"superseded by {f.delivery.submission_id}")
    return partial


def _pick_files(files: list[ExtractFile], kind: str, tables: list[str], taken: set[int], rate: float,
                rng: np.random.Generator, log: FaultLog, also=lambda f: True) -> list[int]:
    """Final, non-empty CSV files of `tables` no other file fault took, picked at `rate`."""
    eligible = [i for i, f in enumerate(files) if f.final and i not in taken and f.name in tables
                and f.fmt == "csv" and len(f.rows) > 0 and also(f)]
    log.opportunities[kind] += len(eligible)
    picked = [eligible[j] for j in _choose(rng, len(eligible), rate)]
    taken.update(picked)
    return picked


def _has_non_ascii(f: ExtractFile) -> bool:
    return any(not pc.all(pc.fill_null(pc.string_is_ascii(column), True)).as_py() for column in f.rows.columns)


def inject_file_faults(files: list[ExtractFile], rate: float, rng: np.random.Generator,
                       log: FaultLog) -> list[ExtractFile]:
    """File-level faults (faults.yaml `file`, in its order) and then duplicate rows."""
    if rate <= 0:
        return files
    spec = faults()["file"]
    log.opportunities["resubmitted_month"] += len({f.delivery for f in files})
    files = list(files) + _resubmissions(files, rng, log)
    taken: set[int] = set()
    column = spec["missing_required_column"]["column"]
    for i in _pick_files(files, "missing_required_column", spec["missing_required_column"]["tables"], taken, rate,
                         rng, log):
        f = files[i] = _with_fault(files[i], "missing_required_column", rows=files[i].rows.drop_columns([column]))
        _log(log, "missing_required_column", f, f.keys, f"required column {column} missing: whole file rejected")
    for i in _pick_files(files, "truncated_last_line", spec["truncated_last_line"]["tables"], taken, rate, rng, log):
        f = files[i] = _with_fault(files[i], "truncated_last_line", truncate=True)
        _log(log, "truncated_last_line", f, f.keys[-1:], "last line cut off mid-row")
    files += _v5_names(files, rate, rng, log, taken)
    for i in _pick_files(files, "windows_1252", spec["windows_1252"]["tables"], taken, rate, rng, log,
                         also=_has_non_ascii):
        f = files[i] = _with_fault(files[i], "windows_1252", encoding="cp1252")
        _log(log, "windows_1252", f, None, "file encoded as Windows-1252")
    return [_duplicate_rows(f, rate, rng, log) for f in files]


def _with_fault(f: ExtractFile, kind: str, **changes) -> ExtractFile:
    return replace(f, faults=f.faults + (kind,), **changes)


def _v5_names(files: list[ExtractFile], rate: float, rng: np.random.Generator, log: FaultLog,
              taken: set[int]) -> list[ExtractFile]:
    """MHSDS v5 column names, variant by variant (extracts.yaml v5_variants): renames change
    `files` in place; returns the v5 tables a move adds."""
    added = []
    for body in extracts()["v5_variants"].values():
        for i in _pick_files(files, "v5_column_names", [f"mhsds.{body['table']}"], taken, rate, rng, log):
            f = files[i]
            if "rename" in body:
                names = [body["rename"].get(c, c) for c in f.rows.column_names]
                files[i] = _with_fault(f, "v5_column_names", rows=f.rows.rename_columns(names))
                detail = "v5 names: " + "; ".join(f"{a} as {b}" for a, b in body["rename"].items())
            else:
                move = body["move"]
                files[i] = _with_fault(f, "v5_column_names", rows=f.rows.drop_columns([move["column"]]))
                added.append(replace(f, table=move["to"], rows=f.rows.select(move["with"] + [move["column"]])))
                detail = f"v5: {move['column']} sent in {move['to']}.csv"
            _log(log, "v5_column_names", files[i], None, detail)
    return added


def _duplicate_rows(f: ExtractFile, rate: float, rng: np.random.Generator, log: FaultLog) -> ExtractFile:
    """Some rows sent twice, the copy straight after the original (not in superseded or rejected
    files, v5 side tables, or on a cut last line)."""
    contract_table = f.table in extracts()["sources"][f.delivery.source]["tables"]
    if (not f.final or not contract_table or f.name in faults()["row"]["duplicate_row"]["exclude"]
            or "missing_required_column" in f.faults or len(f.rows) == 0):
        return f
    twice = rng.random(len(f.rows)) < rate
    if f.truncate:  # the cut line must stay the last one
        twice[-1] = False
    log.opportunities["duplicate_row"] += len(f.rows) - int(f.truncate)
    if not twice.any():
        return f
    _log(log, "duplicate_row", f, f.keys[twice], "row sent twice")
    order = np.repeat(np.arange(len(f.rows)), 1 + twice)
    return replace(f, rows=f.rows.take(pa.array(order, pa.int64())), keys=f.keys[order])


# --- writing -------------------------------------------------------------------------------------

def csv_bytes(rows: pa.Table) -> bytes:
    """Header plus rows; no quoting (values never hold commas or quotes), empty for null."""
    out = io.BytesIO()
    out.write((",".join(rows.column_names) + "\n").encode("utf-8"))
    if len(rows):
        pacsv.write_csv(rows, out, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    return out.getvalue()


def _cut_last_line(data: bytes) -> bytes:
    """Cut the last line mid-row: half its fields and half of the next, no line end."""
    body, last = data[:-1].rsplit(b"\n", 1)
    fields = last.split(b",")
    keep = max(1, len(fields) // 2)
    return body + b"\n" + b",".join(fields[:keep]) + b"," + fields[keep][: len(fields[keep]) // 2]


def encode(f: ExtractFile) -> bytes:
    data = csv_bytes(f.rows)
    if f.encoding != "utf-8":
        data = data.decode("utf-8").encode(f.encoding)
    if f.truncate:
        data = _cut_last_line(data)
    return _BOM + data if f.bom else data


def write_files(files: list[ExtractFile], landing: Path) -> Counter[str]:
    """Write every file; returns data rows written per `source.table`."""
    rows: Counter[str] = Counter()
    for f in sorted(files, key=lambda f: str(f.path)):
        path = landing / f.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if f.fmt == "parquet":
            pq.write_table(f.rows, path)
        else:
            path.write_bytes(encode(f))
        rows[f.name] += len(f.rows)
    return rows
