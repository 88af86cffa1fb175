"""`carebridge deliver`: send each organisation's bundles to its MESH mailbox.

Reads `<out>/fhir/bundles/<ODS>/`, sends every bundle not already delivered with the same content
(the delivery log `<out>/mesh/delivery_log.jsonl` records each message id), from carebridge's own
mailbox to the mailbox the MESH configuration names for the ODS code. Exits 1 if any organisation
with bundles has no mailbox configured (after delivering the others) or MESH refuses a message.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["register"]

_CONFIG_ENV = "CAREBRIDGE_MESH_CONFIG"


def _cmd(args: argparse.Namespace) -> int:
    try:
        from mesh_client import MeshError

        from carebridge.mesh import MeshConfigError, deliver_bundles, delivery_log_path, load_mesh_config
    except ImportError as exc:
        print(f"carebridge: `deliver` needs the mesh extra (pip install 'carebridge[mesh]'): {exc}", file=sys.stderr)
        return 1
    if not args.mesh_config:
        print(f"carebridge: give --mesh-config (or {_CONFIG_ENV})", file=sys.stderr)
        return 1
    try:
        config = load_mesh_config(args.mesh_config)
        result = deliver_bundles(args.out, config, reporter=print if args.verbose else lambda _: None)
    except MeshConfigError as exc:
        print(f"carebridge: {exc}", file=sys.stderr)
        return 1
    except (MeshError, OSError) as exc:
        print(f"carebridge: MESH delivery stopped: {exc} (what was sent is in {delivery_log_path(args.out)}; "
              "run again to send the rest)", file=sys.stderr)
        return 1
    print(f"sent {len(result.sent)} bundles by MESH; {result.already} already delivered unchanged; "
          f"log: {delivery_log_path(args.out)}")
    if result.no_mailbox:
        missing = ", ".join(f"{ods} ({n})" for ods, n in sorted(result.no_mailbox.items()))
        print(f"carebridge: not delivered, no MESH mailbox configured for: {missing}", file=sys.stderr)
        return 1
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("deliver", help="send each organisation's bundles to its MESH mailbox",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="the output folder of a pipeline run")
    parser.add_argument("--mesh-config", type=Path, default=os.environ.get(_CONFIG_ENV) or None,
                        help=f"MESH configuration: own mailbox, ODS code -> mailbox (env {_CONFIG_ENV})")
    parser.add_argument("--verbose", action="store_true", help="print each message sent")
    parser.set_defaults(func=_cmd)
