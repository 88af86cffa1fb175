"""`carebridge linkage review`: the clerical review queue, and decisions on it.

    carebridge linkage review --out DIR                      # write DIR/linkage_review/queue.csv, summarise
    carebridge linkage review --out DIR --decisions FILE     # record decisions (CSV or YAML)

The queue is what the last linkage run could not decide alone (`linkage.linkage_review`): one
row per pair, both records side by side, the match weight, each comparison's weight (the evidence)
and why it was held. Fill in `decision` (`match` / `non_match`) and `note` in the CSV and pass it
back with `--decisions`; rows left blank are skipped. Decisions are appended to
`linkage.linkage_decision` and honoured by every later linkage run (`carebridge run`): a pair
decided `match` is linked, one decided `non_match` is kept apart, and neither returns to the
queue. Person ids stay stable: a merge retires one id into the other (linkage.person_id_retired).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from carebridge.core.settings import env_warehouse_url

__all__ = ["register", "write_queue", "record_decisions"]


def _engine(out: Path, warehouse: str):
    from carebridge.core.settings import default_warehouse_url
    from warehouse.db import make_engine

    return make_engine(warehouse or default_warehouse_url(out))


def write_queue(engine, folder: Path) -> tuple[Path, dict[str, int]]:
    """The queue as CSV (decision and note left blank for the reviewer); returns path and rows per kind."""
    from warehouse.db import read_table, table_exists

    if not table_exists(engine, "linkage", "linkage_review"):
        raise FileNotFoundError("no linkage run in this warehouse yet (linkage.linkage_review is missing)")
    queue = read_table(engine, "linkage", "linkage_review")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "queue.csv"
    rows = queue.to_pylist()
    columns = list(queue.column_names)
    for extra in ("decision", "note"):
        if extra not in columns:
            columns.append(extra)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: ("" if row.get(c) is None else row.get(c)) for c in columns})
    kinds: dict[str, int] = {}
    for row in rows:
        kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
    return path, dict(sorted(kinds.items()))


def _decided_rows(path: Path) -> Path:
    """A CSV queue with some rows decided: only those rows (a blank decision is not a decision)."""
    if path.suffix.lower() not in (".csv", ".txt"):
        return path
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = [row for row in reader if str(row.get("decision") or "").strip()]
        fields = reader.fieldnames or []
    handle = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, encoding="utf-8", newline="")
    with handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return Path(handle.name)


def record_decisions(engine, path: Path, decided_by: str = "") -> int:
    """Validate the decisions of `path` and append them to linkage.linkage_decision; returns how many."""
    from carebridge.linkage.review import read_decisions
    from warehouse.db import append_table

    decided = _decided_rows(path)
    try:
        table = read_decisions(decided, datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), decided_by)
    finally:
        if decided != path:
            decided.unlink(missing_ok=True)
    if table.num_rows:
        append_table(engine, "linkage", "linkage_decision", table)
    return table.num_rows


def _review(args: argparse.Namespace) -> int:
    from carebridge.linkage.review import DecisionError

    engine = _engine(args.out, args.warehouse)
    try:
        if args.decisions:
            count = record_decisions(engine, args.decisions, args.decided_by)
            print(f"recorded {count} decision(s) in linkage.linkage_decision; "
                  "the next linkage run (`carebridge run`) honours them")
            return 0
        path, kinds = write_queue(engine, args.to or args.out / "linkage_review")
    except (DecisionError, FileNotFoundError) as exc:
        print(f"carebridge: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    total = sum(kinds.values())
    print(f"{total} pair(s) to review in {path}" + "".join(f"\n  {k}: {n}" for k, n in kinds.items()))
    print("fill in `decision` (match / non_match) and pass the file back with --decisions")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("linkage", help="linkage tools: the clerical review queue",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="linkage_command", required=True)
    review = sub.add_parser("review", help="list the review queue, or record decisions on it",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    review.add_argument("--out", type=Path, required=True, help="the output folder of the last run")
    review.add_argument("--warehouse", default=env_warehouse_url(),
                        help="SQLAlchemy URL of the warehouse (default: the DuckDB file in --out)")
    review.add_argument("--to", type=Path, default=None, help="folder for queue.csv (default: OUT/linkage_review)")
    review.add_argument("--decisions", type=Path, default=None,
                        help="a CSV (the queue with `decision` filled in) or YAML file of decisions to record")
    review.add_argument("--decided-by", default=os.environ.get("USER") or "", help="who decided (recorded)")
    review.set_defaults(func=_review)
