"""The marts as a graph: which tables each mart's SQL reads (parsed with sqlglot), and the build
order that follows from it. Nothing keeps the order by hand: a new mart is a new `.sql` file.

A mart is every `<name>.sql` of this folder except the published SELECTs (`published_*.sql`,
built by warehouse.publish). It is built in `work` when named `m_*`, else in `analytics`
(warehouse.catalog.analytics); a mart reads other marts, the view tables (`fhir.v_*`), the
person_key map and exclusions (`work`), `reference`, and, for the data quality marts, what
staging and linkage recorded (`audit`, `linkage`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache

import sqlglot
from sqlglot import exp

from warehouse.catalog.analytics import mart_schema
from warehouse.marts import MARTS_DIR, read_sql

__all__ = ["PUBLISHED_PREFIX", "mart_names", "table_references", "mart_inputs", "build_order"]

PUBLISHED_PREFIX = "published_"


def mart_names() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in MARTS_DIR.glob("*.sql") if not p.stem.startswith(PUBLISHED_PREFIX)))


def table_references(sql: str) -> frozenset[tuple[str, str]]:
    """Every schema-qualified table (schema, name) one SELECT reads; CTE names are not tables."""
    tree = sqlglot.parse_one(sql, read="postgres")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return frozenset((t.db, t.name) for t in tree.find_all(exp.Table)
                     if t.name and not (not t.db and t.name in ctes))


@cache
def mart_inputs() -> Mapping[str, frozenset[tuple[str, str]]]:
    """Mart name -> the tables its SQL reads."""
    return {name: table_references(read_sql(name)) for name in mart_names()}


def build_order(inputs: Mapping[str, Iterable[tuple[str, str]]] | None = None) -> tuple[str, ...]:
    """Every mart after the marts it reads (Kahn's algorithm; ties alphabetical, so the order is stable).
    A cycle is an error naming the marts in it."""
    inputs = mart_inputs() if inputs is None else inputs
    marts = set(inputs)
    produced = {(mart_schema(name), name): name for name in marts}
    needs = {name: {produced[t] for t in inputs[name] if t in produced and produced[t] != name} for name in marts}
    order: list[str] = []
    ready = sorted(n for n, deps in needs.items() if not deps)
    while ready:
        name = ready.pop(0)
        order.append(name)
        for other in sorted(marts - set(order) - set(ready)):
            needs[other].discard(name)
            if not needs[other]:
                ready.append(other)
        ready.sort()
    if len(order) != len(marts):
        raise ValueError(f"the marts read each other in a cycle: {sorted(marts - set(order))}")
    return tuple(order)
