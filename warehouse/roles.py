"""PostgreSQL roles for the warehouse (outputs.md B), as declared in `roles.yaml`.

- the pipeline role owns every warehouse schema (warehouse.schemas) and every table in them;
- the analyst role reads `analytics`, `published` and `reference` (code lists), nothing else;
- the publisher role reads `published`, nothing else.

`role_statements` is pure: the catalog facts go in (which roles exist, which relations are in the
schemas), the SQL comes out. `setup_roles` reads the catalog and runs the statements in one
transaction; running it again is harmless. Readers get SELECT on existing tables and, through
default privileges, on every table the pipeline role creates later (the pipeline drops and
recreates its tables each run), so the pipeline must connect as the pipeline role. Tables created by
any other role stay unreadable to the readers: the rule fails closed.

Roles are created with LOGIN and no password; a DBA sets passwords (`ALTER ROLE ... PASSWORD`) or
maps login users onto them (`GRANT carebridge_analyst TO alice`). Needs a superuser, or a role
with CREATEROLE that owns the schemas.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
import yaml
from psycopg import sql

__all__ = ["Roles", "access_rules", "default_roles", "role_statements", "setup_roles", "libpq_conninfo"]

_KINDS = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "f": "FOREIGN TABLE"}


@cache
def access_rules() -> dict[str, Any]:
    """roles.yaml: the pipeline role's schemas and each reader's readable schemas."""
    return yaml.safe_load((Path(__file__).with_name("roles.yaml")).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Roles:
    """The role names of one deployment."""

    pipeline: str
    analyst: str
    publisher: str

    def readers(self) -> dict[str, str]:
        """Reader kind (roles.yaml) -> role name."""
        return {"analyst": self.analyst, "publisher": self.publisher}


def default_roles() -> Roles:
    rules = access_rules()
    return Roles(pipeline=rules["pipeline"]["default_name"],
                 **{kind: r["default_name"] for kind, r in rules["readers"].items()})


def _grants(reader: str, schema: str, pipeline: str, readable: bool) -> list[sql.Composed]:
    ids = {"r": sql.Identifier(reader), "s": sql.Identifier(schema), "p": sql.Identifier(pipeline)}
    if readable:
        templates = ["GRANT USAGE ON SCHEMA {s} TO {r}",
                     "GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {r}",
                     "ALTER DEFAULT PRIVILEGES FOR ROLE {p} IN SCHEMA {s} GRANT SELECT ON TABLES TO {r}"]
    else:
        templates = ["REVOKE ALL ON SCHEMA {s} FROM {r}",
                     "REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}",
                     "ALTER DEFAULT PRIVILEGES FOR ROLE {p} IN SCHEMA {s} REVOKE ALL ON TABLES FROM {r}"]
    return [sql.SQL(t).format(**ids) for t in templates]


def role_statements(roles: Roles, database: str, existing_roles: Iterable[str],
                    relations: Iterable[tuple[str, str, str]]) -> list[sql.Composed]:
    """Every statement, in order. `relations`: (schema, name, pg_class.relkind) in the warehouse schemas."""
    rules = access_rules()
    owned = rules["pipeline"]["owns"]
    existing = set(existing_roles)
    db, pipeline = sql.Identifier(database), sql.Identifier(roles.pipeline)
    statements = [sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name))
                  for name in (roles.pipeline, *roles.readers().values()) if name not in existing]
    statements.append(sql.SQL("GRANT CONNECT, CREATE, TEMPORARY ON DATABASE {} TO {}").format(db, pipeline))
    statements += [sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, sql.Identifier(name))
                   for name in roles.readers().values()]
    for schema in owned:
        s = sql.Identifier(schema)
        statements += [sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s),
                       sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(s, pipeline),
                       sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(s),
                       sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM PUBLIC").format(s)]
    statements += [sql.SQL("ALTER {} {} OWNER TO {}").format(sql.SQL(_KINDS[kind]), sql.Identifier(schema, name), pipeline)
                   for schema, name, kind in sorted(relations) if kind in _KINDS and schema in owned]
    for kind, reader in roles.readers().items():
        reads = set(rules["readers"][kind]["reads"])
        for schema in owned:
            statements += _grants(reader, schema, roles.pipeline, schema in reads)
    return statements


def libpq_conninfo(url: str) -> str:
    """A SQLAlchemy URL (`postgresql+psycopg://...`) as a libpq URL psycopg can connect with."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"roles apply to a PostgreSQL warehouse, not {parsed.get_backend_name()}")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _catalog(cur: psycopg.Cursor, roles: Roles) -> tuple[str, list[str], list[tuple[str, str, str]]]:
    database = cur.execute("SELECT current_database()").fetchone()[0]
    names = [roles.pipeline, *roles.readers().values()]
    existing = [r[0] for r in cur.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", [names])]
    relations = cur.execute(
        "SELECT n.nspname, c.relname, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
        [list(access_rules()["pipeline"]["owns"])]).fetchall()
    return database, existing, [tuple(r) for r in relations]


def setup_roles(url: str, roles: Roles | None = None) -> Mapping[str, int]:
    """Create / update the roles and their rights on the warehouse at `url`, in one transaction.
    Returns how many roles were created and relations re-owned."""
    roles = roles or default_roles()
    with psycopg.connect(libpq_conninfo(url)) as conn, conn.cursor() as cur:
        database, existing, relations = _catalog(cur, roles)
        for statement in role_statements(roles, database, existing, relations):
            cur.execute(statement)
    wanted = {roles.pipeline, *roles.readers().values()}
    return {"roles_created": len(wanted - set(existing)), "relations_owned": len(relations)}
