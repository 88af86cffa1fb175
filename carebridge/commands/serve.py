"""`carebridge serve`: the FHIR Bulk Data Access server over a pipeline's output folder.

Serves `<out>/fhir/ndjson` as group-level `$export` per organisation (a Group per ODS code: what
the organisation's bundles carried to it) with SMART Backend Services authorisation, the clients
and their public keys read from the registry file (`--clients`, see docs/trusts.md). Bind it to a
loopback or internal address and put a TLS-terminating proxy in front; `--base-url` is the public
URL clients use (it is the audience of their token requests and the prefix of every URL the
server returns).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["register"]

_CLIENTS_ENV = "CAREBRIDGE_SERVE_CLIENTS"


def _cmd(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from carebridge.serve import create_app, load_registry, load_served
        from carebridge.serve.clients import RegistryError
    except ImportError as exc:
        print(f"carebridge: `serve` needs the serve extra (pip install 'carebridge[serve]'): {exc}", file=sys.stderr)
        return 1
    if not args.clients:
        print(f"carebridge: give --clients (or {_CLIENTS_ENV}): the registry of clients and their public keys",
              file=sys.stderr)
        return 1
    try:
        clients = load_registry(args.clients)
        served = load_served(args.out)
    except (RegistryError, FileNotFoundError, ValueError) as exc:
        print(f"carebridge: {exc}", file=sys.stderr)
        return 1
    base = args.base_url or f"http://{args.host}:{args.port}"
    app = create_app(served, clients, base, work_dir=args.work_dir)
    print(f"serving {len(served.groups)} organisation groups to {len(clients)} clients at {base} "
          f"(listening on {args.host}:{args.port})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="FHIR Bulk Data Access server (group $export per organisation, SMART Backend Services)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="the output folder of a pipeline run")
    parser.add_argument("--clients", type=Path, default=os.environ.get(_CLIENTS_ENV) or None,
                        help=f"client registry: client_id -> ODS code -> public JWKS (env {_CLIENTS_ENV})")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--base-url", default="", help="public base URL (default http://HOST:PORT)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="where export files are written (default: a temporary folder removed on exit)")
    parser.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    parser.set_defaults(func=_cmd)
