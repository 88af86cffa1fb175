"""Deployment settings, resolved once and in one place: the landing area, the output folder, the
warehouse URL and the pseudonymisation key file.

Each setting is taken from (first wins) an explicit value (a command-line option), the environment
variable named here, or the default. Nothing else in carebridge reads these environment variables
or works out the default warehouse.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from carebridge.core.layout import OutputLayout

__all__ = ["LANDING_ENV", "OUT_ENV", "WAREHOUSE_ENV", "KEY_FILE_ENV", "STRICT_ENV", "DEFAULT_LANDING", "DEFAULT_OUT",
           "Settings", "default_warehouse_url", "env_warehouse_url"]

LANDING_ENV = "CAREBRIDGE_LANDING"
OUT_ENV = "CAREBRIDGE_OUT"
WAREHOUSE_ENV = "CAREBRIDGE_WAREHOUSE_URL"
KEY_FILE_ENV = "CAREBRIDGE_KEY_FILE"
STRICT_ENV = "CAREBRIDGE_STRICT_VALIDATION"  # 1: validate FHIR with the fhir.resources models
DEFAULT_OUT = Path("out")
DEFAULT_LANDING = DEFAULT_OUT / "landing"


def default_warehouse_url(out: Path) -> str:
    """The DuckDB file of an output folder, as a SQLAlchemy URL."""
    return f"duckdb:///{OutputLayout(Path(out)).warehouse_file.resolve()}"


def env_warehouse_url(environ: Mapping[str, str] | None = None) -> str:
    """The warehouse URL the environment sets, or "" (then the output folder's DuckDB file is used)."""
    return (os.environ if environ is None else environ).get(WAREHOUSE_ENV, "")


@dataclass(frozen=True)
class Settings:
    """Where one deployment keeps its data. `warehouse_url` "" means the DuckDB file in `out`;
    `key_file` None means the keys module's default location."""

    landing: Path
    out: Path
    warehouse_url: str = ""
    key_file: Path | None = None
    strict_validation: bool = False

    @property
    def url(self) -> str:
        return self.warehouse_url or default_warehouse_url(self.out)

    @property
    def layout(self) -> OutputLayout:
        return OutputLayout(self.out)

    @classmethod
    def resolve(cls, landing: Path | str | None = None, out: Path | str | None = None,
                warehouse_url: str | None = None, key_file: Path | str | None = None,
                environ: Mapping[str, str] | None = None) -> "Settings":
        """Explicit values first, then the environment, then the defaults."""
        env = os.environ if environ is None else environ

        def pick(value, name: str, default):
            if value not in (None, ""):
                return value
            return env.get(name) or default

        key = pick(key_file, KEY_FILE_ENV, None)
        return cls(landing=Path(pick(landing, LANDING_ENV, DEFAULT_LANDING)),
                   out=Path(pick(out, OUT_ENV, DEFAULT_OUT)),
                   warehouse_url=str(pick(warehouse_url, WAREHOUSE_ENV, "")),
                   key_file=Path(key).expanduser() if key else None,
                   strict_validation=env.get(STRICT_ENV, "").lower() in ("1", "true", "yes"))
