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

__all__ = ["LANDING_ENV", "OUT_ENV", "WAREHOUSE_ENV", "KEY_FILE_ENV", "STRICT_ENV", "ENGINE_ENV", "SPARK_MASTER_ENV",
           "SPARK_CATALOG_ENV", "SPARK_CONF_ENV", "DEFAULT_LANDING", "DEFAULT_OUT", "ENGINES", "Settings", "SparkSettings",
           "default_warehouse_url", "env_warehouse_url", "spark_settings", "is_spark_url"]

LANDING_ENV = "CAREBRIDGE_LANDING"
OUT_ENV = "CAREBRIDGE_OUT"
WAREHOUSE_ENV = "CAREBRIDGE_WAREHOUSE_URL"
KEY_FILE_ENV = "CAREBRIDGE_KEY_FILE"
STRICT_ENV = "CAREBRIDGE_STRICT_VALIDATION"  # 1: validate FHIR with the fhir.resources models
ENGINE_ENV = "CAREBRIDGE_ENGINE"  # duckdb (default) or spark, when no warehouse URL is given
SPARK_MASTER_ENV = "CAREBRIDGE_SPARK_MASTER"  # spark.master for a spark+local:// warehouse (default local[2])
SPARK_CATALOG_ENV = "CAREBRIDGE_SPARK_CATALOG"  # a metastore / Unity catalog name (default: the warehouse folder)
SPARK_CONF_ENV = "CAREBRIDGE_SPARK_CONF"  # extra Spark settings: "key=value,key=value"
ENGINES = ("duckdb", "spark")
SPARK_SCHEMES = ("spark", "spark+local", "sc")
DEFAULT_OUT = Path("out")
DEFAULT_LANDING = DEFAULT_OUT / "landing"


def default_warehouse_url(out: Path, engine: str = "duckdb") -> str:
    """The warehouse of an output folder: its DuckDB file as a SQLAlchemy URL, or for `engine`
    "spark" its Spark warehouse folder (`spark+local://<out>/spark-warehouse`)."""
    if engine == "spark":
        return f"spark+local://{(Path(out) / 'spark-warehouse').resolve()}"
    if engine != "duckdb":
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    return f"duckdb:///{OutputLayout(Path(out)).warehouse_file.resolve()}"


def is_spark_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in SPARK_SCHEMES


@dataclass(frozen=True)
class SparkSettings:
    """How to reach Spark for a `spark://`, `sc://` or `spark+local://` warehouse URL.

    `master`: spark.master (`local[2]`, `spark://host:7077`, `yarn`, ...); `connect`: a Spark Connect
    URL (`sc://host:15002`) instead of a master; `warehouse_dir`: where tables are written as
    Parquet (spark.sql.warehouse.dir) when no `catalog` is named; `catalog`: a metastore / Unity
    catalog whose tables the warehouse uses instead (`<catalog>.<schema>.<table>`); `conf`: any
    other Spark settings (memory, shuffle partitions)."""

    master: str = "local[2]"
    warehouse_dir: Path = Path("spark-warehouse")
    connect: str = ""
    catalog: str = ""
    conf: tuple[tuple[str, str], ...] = ()


def _conf_pairs(text: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{SPARK_CONF_ENV}: {item!r} is not key=value")
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


def spark_settings(url: str, out: Path | None = None, environ: Mapping[str, str] | None = None) -> SparkSettings:
    """The Spark settings of a warehouse URL.

    - `spark+local://<folder>`: a Spark started here (master `CAREBRIDGE_SPARK_MASTER`, default
      `local[2]`), tables as Parquet under `<folder>`;
    - `spark://host:port[/<folder>]`: a standalone cluster's master; tables under `<folder>`
      (default `<out>/spark-warehouse`; on a cluster, a path every node reads);
    - `sc://host:port[/;params]`: Spark Connect (the server owns the warehouse folder).
    `CAREBRIDGE_SPARK_CATALOG` names a metastore / Unity catalog, `CAREBRIDGE_SPARK_CONF` adds settings."""
    env = os.environ if environ is None else environ
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme not in SPARK_SCHEMES:
        raise ValueError(f"not a Spark warehouse URL: {url!r} (use spark+local://<folder>, spark://host:port or sc://host:port)")
    default_dir = (Path(out) if out is not None else Path(".")) / "spark-warehouse"
    common = {"catalog": env.get(SPARK_CATALOG_ENV, ""), "conf": _conf_pairs(env.get(SPARK_CONF_ENV, ""))}
    if scheme == "sc":
        return SparkSettings(master="", connect=url, warehouse_dir=default_dir, **common)
    if scheme == "spark+local":
        return SparkSettings(master=env.get(SPARK_MASTER_ENV) or "local[2]",
                             warehouse_dir=Path(rest) if rest else default_dir, **common)
    host, slash, folder = rest.partition("/")
    return SparkSettings(master=f"spark://{host}", warehouse_dir=Path("/" + folder) if slash and folder else default_dir,
                         **common)


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

    engine: str = "duckdb"

    @property
    def url(self) -> str:
        return self.warehouse_url or default_warehouse_url(self.out, self.engine)

    @property
    def spark(self) -> SparkSettings:
        """The Spark settings of this deployment's warehouse (a Spark warehouse URL, or none: `engine` spark)."""
        return spark_settings(self.url, self.out)

    @property
    def layout(self) -> OutputLayout:
        return OutputLayout(self.out)

    @classmethod
    def resolve(cls, landing: Path | str | None = None, out: Path | str | None = None,
                warehouse_url: str | None = None, key_file: Path | str | None = None,
                environ: Mapping[str, str] | None = None, engine: str | None = None) -> "Settings":
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
                   strict_validation=env.get(STRICT_ENV, "").lower() in ("1", "true", "yes"),
                   engine=str(pick(engine, ENGINE_ENV, "duckdb")))
