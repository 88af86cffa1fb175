"""Which asset writes a warehouse table: how the mart and published assets derive their
dependencies from the tables their SQL reads (warehouse.marts.graph)."""

from __future__ import annotations

from functools import cache

import dagster as dg

from warehouse.build import MART_ORDER
from warehouse.catalog import analytics as catalog

__all__ = ["mart_key", "prepared_keys", "asset_of_table", "deps_of"]

PERSON_KEYS = dg.AssetKey([catalog.WORK, "person_key_map"])
EXCLUSIONS = dg.AssetKey([catalog.WORK, "analytics_exclusions"])
REFERENCE = dg.AssetKey(catalog.REFERENCE)
# Schemas written by one upstream asset each (the marts' other inputs).
_UPSTREAM = {"fhir": dg.AssetKey("fhir_views"), "audit": dg.AssetKey("staged"), "linkage": dg.AssetKey("person_index"),
             catalog.REFERENCE: REFERENCE}


def mart_key(name: str) -> dg.AssetKey:
    """A mart's asset: its schema and table (`analytics/person`, `work/m_referral`)."""
    return dg.AssetKey([catalog.mart_schema(name), name])


def prepared_keys() -> tuple[dg.AssetKey, ...]:
    """What the analytics step writes before the marts: the person_key map, exclusions, reference tables."""
    return PERSON_KEYS, EXCLUSIONS, REFERENCE


@cache
def _marts() -> dict[tuple[str, str], dg.AssetKey]:
    return {(catalog.mart_schema(n), n): mart_key(n) for n in MART_ORDER}


def asset_of_table(schema: str, name: str) -> dg.AssetKey | None:
    """The asset that writes `schema.name` (None: not written by the build)."""
    if (schema, name) in _marts():
        return _marts()[(schema, name)]
    if (schema, name) in ((k.path[0], k.path[-1]) for k in (PERSON_KEYS, EXCLUSIONS)):
        return dg.AssetKey([schema, name])
    return _UPSTREAM.get(schema)


def deps_of(tables) -> list[dg.AssetKey]:
    """The assets writing any of `tables` ((schema, name) pairs), sorted."""
    return sorted({k for k in (asset_of_table(s, n) for s, n in tables) if k is not None}, key=lambda k: k.path)
