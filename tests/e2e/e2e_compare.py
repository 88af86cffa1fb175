"""Comparing the warehouse with the truth's expectations: rows keyed alike, floats to 1e-6.

Mismatch messages show keys (pseudonymised person_key or record hashes) and values, never patient
data: the compared columns hold no NHS number, name, postcode or birth date.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import sqlalchemy as sa

from warehouse.questions import ask

__all__ = ["rows", "counts", "service_counts", "question_rows", "assert_same_rows", "linkage_figures",
           "assert_linkage"]

_SHOWN = 8


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    return con.sql(sql).to_arrow_table().to_pylist()


def counts(records: Iterable[dict[str, Any]]) -> dict[tuple[str | None, str | None], int]:
    """{(provider_ods, service_type_code): n} from rows with those columns and `n`."""
    return {(r["provider_ods"], r["service_type_code"]): r["n"] for r in records}


def service_counts(engine: sa.Engine, table: str, by: str = "s.service_type_code") -> dict:
    """{(provider_ods, service type): rows} of an analytics table (`by` may extend the service type)."""
    from warehouse.db import query

    return counts(query(engine, f"""
        SELECT s.provider_ods, {by} AS service_type_code, COUNT(*) AS n
        FROM analytics.{table} AS x LEFT JOIN analytics.service AS s USING (service_key)
        GROUP BY ALL""").to_pylist())


def question_rows(engine: sa.Engine, name: str) -> list[dict[str, Any]]:
    return ask(engine, name).to_pylist()


def _same(expected: Any, got: Any) -> bool:
    if expected is None or got is None:
        return expected is None and got is None
    if isinstance(expected, float) or isinstance(got, float):
        return math.isclose(float(expected), float(got), rel_tol=1e-9, abs_tol=1e-6)
    return expected == got


def _keyed(records: Sequence[dict[str, Any]], keys: Sequence[str], side: str) -> dict[tuple, dict[str, Any]]:
    keyed = {tuple(r[k] for k in keys): r for r in records}
    assert len(keyed) == len(records), f"{side}: {len(records) - len(keyed)} rows share a key {tuple(keys)}"
    return keyed


def assert_same_rows(expected: Sequence[dict[str, Any]], got: Sequence[dict[str, Any]], keys: Sequence[str]) -> None:
    """The same keys on both sides, and every expected column equal (got may have more columns)."""
    want, have = _keyed(expected, keys, "expected"), _keyed(got, keys, "warehouse")
    missing, extra = sorted(set(want) - set(have), key=str), sorted(set(have) - set(want), key=str)
    assert not missing and not extra, (f"{len(missing)} expected rows missing, e.g. {missing[:_SHOWN]}; "
                                       f"{len(extra)} unexpected rows, e.g. {extra[:_SHOWN]}")
    wrong = [(k, c, want[k][c], have[k].get(c)) for k in sorted(want, key=str) for c in want[k]
             if not _same(want[k][c], have[k].get(c))]
    assert not wrong, f"{len(wrong)} values differ (key, column, expected, warehouse): {wrong[:_SHOWN]}"


def linkage_figures(truth: duckdb.DuckDBPyConnection, engine: sa.Engine) -> dict[str, int]:
    """Who the NHS-number gap splits, from the truth's records and the staged NHS number checks
    (`pp`), next to what the pipeline's person index reports.

    candidates: records without a valid NHS number whose truth person has another record;
    linked_back: those the probabilistic pass put back on their person; split_people: truth people
    still spread over more than one pipeline person; unlinked_records: records the person index
    left as people of their own; people_without_nhs_number: persons of the index with no valid NHS
    number (not excluded from analytics); extra_people: analytics.person rows that are not an
    NHS-number person."""
    from warehouse.db import query

    one = lambda sql: truth.sql(sql).fetchall()[0][0]  # noqa: E731
    several = "person_id IN (SELECT person_id FROM pp GROUP BY person_id HAVING COUNT(*) > 1)"
    nhs_keys = {k for (k,) in truth.sql("SELECT DISTINCT person_key FROM pp WHERE valid").fetchall()}
    without_nhs = """SELECT COUNT(*) AS n FROM linkage.person WHERE nhs_number IS NULL
                     AND person_id NOT IN (SELECT person_id FROM work.analytics_exclusions)"""
    analytics = set(query(engine, "SELECT person_key FROM analytics.person")["person_key"].to_pylist())
    return {
        "candidates": one(f"SELECT COUNT(*) FROM pp WHERE NOT valid AND {several}"),
        "linked_back": one(f"SELECT COUNT(*) FROM pp WHERE NOT valid AND probabilistic AND {several}"),
        "split_records": one(f"SELECT COUNT(*) FROM pp WHERE NOT valid AND NOT probabilistic AND {several}"),
        "split_people": one("SELECT COUNT(*) FROM (SELECT person_id FROM pp GROUP BY person_id "
                            "HAVING COUNT(DISTINCT pp_id) > 1)"),
        "split_people_expected": one(f"SELECT COUNT(DISTINCT person_id) FROM pp WHERE NOT valid AND NOT probabilistic "
                                     f"AND {several}"),
        "unlinked_records": query(engine, "SELECT COUNT(*) AS n FROM linkage.person_index "
                                          "WHERE match_method = 'unlinked'")["n"][0].as_py(),
        "unlinked_records_expected": one("SELECT COUNT(*) FROM pp WHERE NOT valid AND NOT probabilistic"),
        "people_without_nhs_number": query(engine, without_nhs)["n"][0].as_py(),
        "people_without_nhs_number_expected": one(
            "SELECT COUNT(*) FROM (SELECT pp_id FROM pp WHERE NOT excluded GROUP BY pp_id HAVING NOT BOOL_OR(valid))"),
        "extra_people": len(analytics - nhs_keys),
        "wrong_merges": one(
            "SELECT COUNT(*) FROM (SELECT pp_id FROM pp GROUP BY pp_id HAVING COUNT(DISTINCT person_id) > 1)"),
    }


def assert_linkage(figures: dict[str, int]) -> None:
    """The person index agrees with the truth: no pipeline person mixes two truth people, people are
    split only by records left on their own, the records it reports unlinked are the expected ones,
    and the extra analytics people are exactly its people without a valid NHS number (not excluded)."""
    assert figures["wrong_merges"] == 0
    assert figures["split_people"] == figures["split_people_expected"]
    assert figures["unlinked_records"] == figures["unlinked_records_expected"]
    assert figures["extra_people"] == figures["people_without_nhs_number"]
    assert figures["people_without_nhs_number"] == figures["people_without_nhs_number_expected"]
