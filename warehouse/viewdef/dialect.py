"""What a SQL dialect is to the view compiler; the dialects themselves live with their backends.

The compiler only ever writes SQL through `Dialect.sql(op, **parts)`. A template is a format string,
or a function of the parts where a dialect must look at them (PostgreSQL reads JSON paths to quote
their keys). `setup` holds the statements a connection runs once before compiled queries (the
PostgreSQL dialect's helper functions, created in `pg_temp`, so they last for the session only);
`per_query` the settings a query's own transaction runs first.

Each backend's template table is defined beside its engine and is its `Engine.view_dialect`:
`warehouse.engines.duckdb_dialect.DUCKDB`, `warehouse.engines.postgresql_dialect.POSTGRESQL`,
and Spark's in `warehouse.engines.spark_views`. `get_dialect(name)` finds a dialect by its backend's
name through the backend registry (`warehouse.engines.BACKENDS`), so this package names no backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Mapping

from warehouse.viewdef.errors import NotCompilable

__all__ = ["Dialect", "Template", "get_dialect"]

Template = str | Callable[..., str]


@dataclass(frozen=True)
class Dialect:
    name: str
    templates: Mapping[str, Template]
    sql_types: Mapping[str, str]
    json_types: Mapping[str, tuple[str, ...]]
    unsupported: frozenset[str] = field(default_factory=frozenset)
    setup: tuple[str, ...] = ()
    per_query: tuple[str, ...] = ()  # run in the query's own transaction, before it

    def sql(self, op: str, **parts: object) -> str:
        """Render one operation; operations a dialect lacks raise NotCompilable."""
        if op in self.unsupported or op not in self.templates:
            raise NotCompilable(f"{op} is not supported by the {self.name} dialect")
        template = self.templates[op]
        return template(**parts) if callable(template) else template.format(**parts)

    def has(self, op: str) -> bool:
        return op in self.templates and op not in self.unsupported

    def literal(self, text: str) -> str:
        return "'" + text.replace("'", "''") + "'"


def get_dialect(dialect: Dialect | str) -> Dialect:
    """A dialect, or the view dialect of the backend named `dialect` ("duckdb", "postgresql", "spark")."""
    if isinstance(dialect, Dialect):
        return dialect
    from warehouse.engines import BACKENDS, backend_class  # imported when asked: backends import this module

    if dialect not in BACKENDS:
        raise NotCompilable(f"no SQL dialect named {dialect!r} (have: {', '.join(BACKENDS)})")
    return get_dialect(backend_class(dialect).view_dialect)
