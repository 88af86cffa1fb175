"""The role plan (pure: catalog facts in, SQL out), checked without a server."""

from __future__ import annotations

import re

import pytest

psycopg = pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed")

from warehouse.roles import Roles, access_rules, role_statements  # noqa: E402
from warehouse.schemas import IDENTIFIABLE_SCHEMAS, SCHEMAS  # noqa: E402

ROLES = Roles(pipeline="p", analyst="a", publisher="b")


def _plan(existing=(), relations=()) -> list[str]:
    return [s.as_string(None) for s in role_statements(ROLES, "wh", existing, relations)]


def _granted(plan: list[str], role: str) -> set[str]:
    return {m.group(1) for s in plan for m in [re.match(rf'GRANT USAGE ON SCHEMA "(\w+)" TO "{role}"$', s)] if m}


def test_each_reader_is_granted_exactly_its_declared_schemas_and_revoked_the_rest():
    plan = _plan()
    rules = access_rules()
    assert _granted(plan, "a") == set(rules["readers"]["analyst"]["reads"]) == {"analytics", "published", "reference"}
    assert _granted(plan, "b") == {"published"}
    assert set(rules["pipeline"]["owns"]) == set(SCHEMAS)                     # every warehouse schema, no other
    for reader in ("a", "b"):
        for schema in IDENTIFIABLE_SCHEMAS:
            assert f'REVOKE ALL ON SCHEMA "{schema}" FROM "{reader}"' in plan
            assert f'ALTER DEFAULT PRIVILEGES FOR ROLE "p" IN SCHEMA "{schema}" REVOKE ALL ON TABLES FROM "{reader}"' in plan
    assert not any(s.startswith("GRANT") and f'"{schema}"' in s and s.endswith(('"a"', '"b"'))
                   for s in plan for schema in IDENTIFIABLE_SCHEMAS)


def test_only_missing_roles_are_created_and_only_warehouse_relations_re_owned():
    plan = _plan(existing=["a", "p"], relations=[("analytics", "person", "r"), ("fhir", "v_x", "v"),
                                                  ("public", "other", "r")])
    assert [s for s in plan if s.startswith("CREATE ROLE")] == ['CREATE ROLE "b" LOGIN']
    owned = [s for s in plan if s.startswith("ALTER") and "OWNER TO" in s and "SCHEMA" not in s]
    assert owned == ['ALTER TABLE "analytics"."person" OWNER TO "p"', 'ALTER VIEW "fhir"."v_x" OWNER TO "p"']
