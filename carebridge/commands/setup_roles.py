"""`carebridge setup-roles`: the pipeline, analyst and publisher roles on a PostgreSQL warehouse.

The pipeline role owns the warehouse schemas and everything in them; the analyst role reads
`analytics`, `published` and `reference`; the publisher role reads `published`. Neither reader can
see the identifiable schemas (staging, linkage, fhir, work, audit). Rules: warehouse/roles.yaml. Safe to run again (e.g. after adding a schema).
"""

from __future__ import annotations

import argparse
from carebridge.core.settings import env_warehouse_url
import sys

__all__ = ["register"]


def _cmd(args: argparse.Namespace) -> int:
    import psycopg
    import sqlalchemy as sa

    from warehouse.roles import Roles, default_roles, setup_roles

    if not args.warehouse:
        print("carebridge: setup-roles needs --warehouse postgresql+psycopg://... (or CAREBRIDGE_WAREHOUSE_URL)",
              file=sys.stderr)
        return 1
    names = default_roles()
    roles = Roles(pipeline=args.pipeline_role or names.pipeline, analyst=args.analyst_role or names.analyst,
                  publisher=args.publisher_role or names.publisher)
    shown = sa.make_url(args.warehouse).render_as_string(hide_password=True)
    try:
        done = setup_roles(args.warehouse, roles)
    except (ValueError, psycopg.Error) as exc:
        print(f"carebridge: setup-roles on {shown} failed: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    print(f"roles ready on {shown}: {roles.pipeline} owns the warehouse ({done['relations_owned']} tables), "
          f"{roles.analyst} reads analytics, published and reference, {roles.publisher} reads published "
          f"({done['roles_created']} roles created)")
    print(f"point the pipeline at the warehouse as {roles.pipeline}: tables it creates are readable by the readers")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    # Defaults (carebridge/roles.yaml) are read when the command runs: building the parser stays
    # free of database drivers, so every `carebridge` command starts fast.
    parser = subparsers.add_parser("setup-roles", help="create the pipeline, analyst and publisher roles on PostgreSQL",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", default=env_warehouse_url(),
                        help="SQLAlchemy URL of the PostgreSQL warehouse (env CAREBRIDGE_WAREHOUSE_URL)")
    parser.add_argument("--pipeline-role", default=None, help="default: carebridge/roles.yaml")
    parser.add_argument("--analyst-role", default=None, help="default: carebridge/roles.yaml")
    parser.add_argument("--publisher-role", default=None, help="default: carebridge/roles.yaml")
    parser.set_defaults(func=_cmd)
