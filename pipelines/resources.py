"""The one resource every asset uses: where the landing area, output folder and warehouse are."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from warehouse.db import default_url, ensure_schemas, make_engine


_ENGINES: dict[str, sa.Engine] = {}


def engine_for(url: str) -> sa.Engine:
    """One engine per warehouse URL per process (a DuckDB file takes a single writer)."""
    if url not in _ENGINES:
        _ENGINES[url] = make_engine(url)
        ensure_schemas(_ENGINES[url])
    return _ENGINES[url]


def dispose_engines() -> None:
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


class CarebridgeResource(dg.ConfigurableResource):
    """Locations for one deployment. Set by `carebridge run`, or by environment variables for `dagster dev`."""

    landing_dir: str
    out_dir: str
    warehouse_url: str = ""
    key_file: str = ""

    @property
    def landing(self) -> Path:
        return Path(self.landing_dir)

    @property
    def out(self) -> Path:
        return Path(self.out_dir)

    @property
    def url(self) -> str:
        return self.warehouse_url or default_url(self.out)

    @property
    def engine(self) -> sa.Engine:
        return engine_for(self.url)

    @property
    def key_path(self) -> Path | None:
        return Path(self.key_file) if self.key_file else None


def resource_from_env() -> CarebridgeResource:
    """For `dagster dev -m pipelines`: CAREBRIDGE_LANDING, CAREBRIDGE_OUT, CAREBRIDGE_WAREHOUSE_URL."""
    return CarebridgeResource(
        landing_dir=dg.EnvVar("CAREBRIDGE_LANDING").get_value("./out/landing") or "./out/landing",
        out_dir=dg.EnvVar("CAREBRIDGE_OUT").get_value("./out") or "./out",
        warehouse_url=dg.EnvVar("CAREBRIDGE_WAREHOUSE_URL").get_value("") or "",
        key_file=dg.EnvVar("CAREBRIDGE_KEY_FILE").get_value("") or "",
    )
