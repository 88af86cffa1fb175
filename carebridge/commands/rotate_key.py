"""`carebridge rotate-key`: re-key the whole analytics schema under a new pseudonymisation key.

A new key is written beside the current one, the `analytics`, `published` and `data_docs` assets
are rebuilt under it in one Dagster run, and only when that run succeeds does the new key replace
the old one. The old key is not kept: person_keys from before the rotation cannot be linked to the
new ones. If the run fails, the key file is unchanged; `carebridge run` then rebuilds analytics
under it.
"""

from __future__ import annotations

import argparse
from carebridge.core.settings import env_warehouse_url
import sys
from collections.abc import Callable
from pathlib import Path

from carebridge.core.keys import KeyFileError, check_key_location, commit_new_key, default_key_path, load_key, stage_new_key

__all__ = ["REKEYED_ASSETS", "rotate_key", "register"]

REKEYED_ASSETS = ("analytics", "published", "data_docs", "report")


def rotate_key(landing: Path, out: Path, warehouse_url: str = "", key_file: Path | None = None,
               reporter: Callable[[str], None] = print) -> Path:
    """Rebuild the analytics schema under a new key, then make it the key; returns the key file's path."""
    from carebridge.runner import rebuild_assets

    path = key_file or default_key_path()
    check_key_location(path, out, landing)
    load_key(path)  # there must be a usable key to rotate
    staged = stage_new_key(path)
    try:
        rebuild_assets(landing, out, REKEYED_ASSETS, warehouse_url=warehouse_url, key_file=staged, reporter=reporter)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    commit_new_key(staged, path)
    return path


def _cmd(args: argparse.Namespace) -> int:
    from carebridge.runner import PipelineError

    try:
        path = rotate_key(args.landing, args.out, args.warehouse, args.key_file)
    except KeyFileError as exc:
        print(f"carebridge: {exc}", file=sys.stderr)
        return 1
    except PipelineError as exc:
        print(f"carebridge: key rotation failed, the key is unchanged ({exc}); "
              "run `carebridge run` to rebuild analytics under it", file=sys.stderr)
        return 1
    print(f"re-keyed the analytics schema; the new key is in {path} (the old one is gone)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rotate-key", help="re-key the analytics schema under a new pseudonymisation key, in one run",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--landing", type=Path, required=True, help="the landing area of the last run")
    parser.add_argument("--out", type=Path, required=True, help="the output folder of the last run")
    parser.add_argument("--warehouse", default=env_warehouse_url(),
                        help="SQLAlchemy URL of the warehouse (default: the DuckDB file in --out)")
    parser.add_argument("--key-file", type=Path, default=None, help="the key to rotate (env CAREBRIDGE_KEY_FILE)")
    parser.set_defaults(func=_cmd)
