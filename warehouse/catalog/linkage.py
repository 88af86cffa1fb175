"""The `linkage` schema: the person index (record -> person, one row per person) and its history.

`person_id_map` / `person_id_retired` carry person ids from run to run; `linkage_review` holds
conflicts never merged; `linkage_run` (appended) records what each run linked with;
`linkage_summary` holds the latest run's figures.
"""

from __future__ import annotations

import pyarrow as pa

from warehouse.engines import Warehouse
from warehouse.db import append_table, read_table, read_table_if_exists, table_exists, write_table

__all__ = ["SCHEMA", "save_person_index", "load_person_index", "load_persons", "load_assignment", "load_decisions", "append_decisions",
           "save_assignment", "save_reviews", "append_run", "save_summary"]

SCHEMA = "linkage"


def save_person_index(engine: Warehouse, links: pa.Table, persons: pa.Table) -> None:
    write_table(engine, SCHEMA, "person_index", links)
    write_table(engine, SCHEMA, "person", persons)


def load_person_index(engine: Warehouse) -> tuple[pa.Table, pa.Table]:
    """(links, persons)."""
    return read_table(engine, SCHEMA, "person_index"), read_table(engine, SCHEMA, "person")


def load_persons(engine: Warehouse) -> pa.Table:
    return read_table(engine, SCHEMA, "person")


def load_assignment(engine: Warehouse) -> tuple[pa.Table, pa.Table | None] | None:
    """The last run's (person_id_map, person_id_retired), or None before the first run."""
    if not table_exists(engine, SCHEMA, "person_id_map"):
        return None
    retired = read_table_if_exists(engine, SCHEMA, "person_id_retired")
    return read_table(engine, SCHEMA, "person_id_map"), retired


def save_assignment(engine: Warehouse, id_map: pa.Table, retired: pa.Table) -> None:
    write_table(engine, SCHEMA, "person_id_map", id_map)
    write_table(engine, SCHEMA, "person_id_retired", retired)


def save_reviews(engine: Warehouse, reviews: pa.Table) -> None:
    write_table(engine, SCHEMA, "linkage_review", reviews)


def load_decisions(engine: Warehouse) -> pa.Table | None:
    """Clerical review decisions (`carebridge linkage review --decisions`), None before the first."""
    return read_table_if_exists(engine, SCHEMA, "linkage_decision")


def append_decisions(engine: Warehouse, decisions: pa.Table) -> None:
    append_table(engine, SCHEMA, "linkage_decision", decisions)


def append_run(engine: Warehouse, record: pa.Table) -> None:
    append_table(engine, SCHEMA, "linkage_run", record)


def save_summary(engine: Warehouse, summary: pa.Table) -> None:
    write_table(engine, SCHEMA, "linkage_summary", summary)
