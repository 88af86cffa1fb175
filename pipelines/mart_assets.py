"""The analytics step: the person_key map, exclusions and reference tables, then every mart as its
own asset (`analytics/<mart>`, `work/m_*`) with its Great Expectations check. One step (the
warehouse pool's single writer) that builds only the selected marts, in the order their SQL gives."""


from collections.abc import Iterator

import dagster as dg

from carebridge.core.keys import load_or_create_key
from carebridge.core.reference import load_reference
from pipelines.incremental import Gate, files_digest, key_digest, open_gate, recorded_fingerprints
from pipelines.metadata import column_schemas, counts_table
from pipelines.quality import check_name, gx_check_results, gx_table_check_specs
from pipelines.resources import WAREHOUSE_POOL, CarebridgeResource
from pipelines.tables import EXCLUSIONS, PERSON_KEYS, REFERENCE, deps_of, mart_key
from warehouse.build import ANALYTICS_TABLES, MART_ORDER, build_selected_marts, load_reference_tables, person_keys
from warehouse.catalog import analytics as catalog
from warehouse.catalog.linkage import load_persons
from warehouse.dictionary import apply_comments
from warehouse.exclusions import analytics_exclusions
from warehouse.marts.graph import mart_inputs

__all__ = ["analytics", "ANALYTICS_KEYS"]

GROUP = "warehouse"
ANALYTICS_KEYS = {name: mart_key(name) for name in ANALYTICS_TABLES}


def _specs() -> list[dg.AssetSpec]:
    person_index = dg.AssetKey("person_index")
    specs = [dg.AssetSpec(PERSON_KEYS, deps=[person_index], kinds={"duckdb"}, skippable=True,
                          description="person_id -> person_key (HMAC-SHA256 under the key held outside the warehouse)"),
             dg.AssetSpec(EXCLUSIONS, deps=[person_index], kinds={"duckdb"}, skippable=True,
                          description="people left out of analytics: national data opt-out, type 1 objection"),
             dg.AssetSpec(REFERENCE, kinds={"duckdb"}, skippable=True,
                          description="the reference schema: code lists and the deployment's reference data")]
    specs += [dg.AssetSpec(mart_key(name), deps=deps_of(mart_inputs()[name]), kinds={"duckdb"}, skippable=True,
                           description=f"{catalog.mart_schema(name)}.{name}: warehouse/marts/{name}.sql")
              for name in MART_ORDER]
    return specs


def _prepare(carebridge: CarebridgeResource, selected, key: bytes | None) -> Iterator[dg.MaterializeResult]:
    """The marts' inputs that are not SQL: pseudonymisation keys, exclusions, reference tables."""
    engine = carebridge.engine
    persons = load_persons(engine) if {PERSON_KEYS, EXCLUSIONS} & selected else None
    if PERSON_KEYS in selected:
        catalog.save_person_keys(engine, person_keys(persons["person_id"].to_pylist(), key))
        yield dg.MaterializeResult(asset_key=PERSON_KEYS, metadata={"rows": persons.num_rows})
    reference = load_reference(carebridge.landing) if {EXCLUSIONS, REFERENCE} & selected else None
    if EXCLUSIONS in selected:
        excluded = analytics_exclusions(persons, reference.opt_outs)
        catalog.save_exclusions(engine, excluded)
        yield dg.MaterializeResult(asset_key=EXCLUSIONS, metadata={"rows": excluded.num_rows})
    if REFERENCE in selected:
        counts = load_reference_tables(engine, reference)
        yield dg.MaterializeResult(asset_key=REFERENCE, metadata={"rows_by_table": counts_table(counts)})


def _gate(carebridge: CarebridgeResource, selected, key: bytes | None) -> Gate:
    """Unchanged when the views, staging and linkage it reads, the deployment's reference data, the
    key and the selection are those it last built from."""
    engine = carebridge.engine
    return open_gate(engine, "analytics", recorded_fingerprints(engine, "fhir_views", "staged", "person_index"),
                     files_digest([carebridge.landing / "reference"], carebridge.landing),
                     key_digest(key) if key else None, sorted(k.to_user_string() for k in selected))


def _mart_metadata(engine, name: str, tables) -> dict:
    if name in tables:
        return {"rows": tables[name].num_rows, **column_schemas(catalog.ANALYTICS, {name: tables[name]})}
    return {"rows": catalog.row_count(engine, catalog.mart_schema(name), name)}


@dg.multi_asset(name="analytics", group_name=GROUP, can_subset=True, pool=WAREHOUSE_POOL, specs=_specs(),
                check_specs=gx_table_check_specs(catalog.ANALYTICS, ANALYTICS_KEYS))
def analytics(context: dg.AssetExecutionContext, carebridge: CarebridgeResource) -> Iterator:
    """The pseudonymised row-level marts (person_key = HMAC-SHA256 of the person id under a key held
    outside the warehouse; opted-out people left out; no direct identifiers) and their working
    tables, each mart its own asset; a subset rebuilds only the marts selected."""
    selected = context.selected_asset_keys
    key = load_or_create_key(carebridge.key_path)[0] if PERSON_KEYS in selected else None
    gate = _gate(carebridge, selected, key)
    if gate.unchanged:
        yield from gate.replay([dg.AssetKey.from_user_string(k) for k in gate.recorded["outcome"]["assets"]])
        return
    results = list(_build(context, carebridge, selected, key))
    built = [r.asset_key for r in results if isinstance(r, dg.MaterializeResult)]
    gate.record(context.run_id, results, {"assets": [k.to_user_string() for k in built],
                                          "tables": [".".join(k.path) for k in built if len(k.path) == 2]})
    yield from results


def _build(context: dg.AssetExecutionContext, carebridge: CarebridgeResource, selected, key) -> Iterator:
    yield from _prepare(carebridge, selected, key)
    engine = carebridge.engine
    built = build_selected_marts(engine, [n for n in MART_ORDER if mart_key(n) in selected])
    apply_comments(engine, catalog.ANALYTICS)
    tables = catalog.read_tables(engine, catalog.ANALYTICS, [n for n in ANALYTICS_TABLES
                                                             if catalog.exists(engine, catalog.ANALYTICS, n)])
    for name in built:
        yield dg.MaterializeResult(asset_key=mart_key(name), metadata=_mart_metadata(engine, name, tables))
    checked = {k.name for k in context.selected_asset_check_keys}
    keys = {n: k for n, k in ANALYTICS_KEYS.items() if check_name(catalog.ANALYTICS, n) in checked}
    yield from gx_check_results(carebridge.layout.gx, catalog.ANALYTICS, tables, related=tables, keys=keys, engine=engine)
