"""The mart SQL (one SELECT per file, named after the table it builds) and marts.yaml.

Read by `warehouse.build` (analytics marts) and `warehouse.publish` (published aggregates).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["MARTS_DIR", "settings", "read_sql"]

MARTS_DIR = Path(__file__).parent


@cache
def settings() -> dict[str, Any]:
    """marts.yaml: code systems, score conversions, source code lists, published table specs."""
    with open(MARTS_DIR / "marts.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def read_sql(name: str) -> str:
    """The SQL of `<name>.sql` in this folder."""
    return (MARTS_DIR / f"{name}.sql").read_text(encoding="utf-8")
