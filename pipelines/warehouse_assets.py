"""Warehouse assets: FHIR views, the pseudonymised analytics marts, published aggregates, Data Docs
and the static report."""


import dagster as dg

from carebridge.core.keys import load_or_create_key
from carebridge.core.reference import codes, load_reference
from expectations.runner import build_data_docs, list_suites
from carebridge.report import build_report
from carebridge.report.previews import preview_png
from pipelines.fhir_assets import fhir_resources
from pipelines.metadata import column_schemas, counts_table, png_chart, preview
from pipelines.quality import check_name, gx_check_results, gx_check_specs
from pipelines.resources import WAREHOUSE_POOL, CarebridgeResource
from warehouse.build import build_marts, build_published, load_reference_tables, person_keys
from warehouse.catalog import analytics as catalog, fhir as fhir_catalog
from warehouse.catalog.linkage import load_persons
from warehouse.dictionary import apply_comments
from warehouse.exclusions import analytics_exclusions
from warehouse.publish import published_specs
from warehouse.views_runner import materialise_views

WAREHOUSE = "warehouse"


@dg.asset(deps=[fhir_resources], group_name=WAREHOUSE, kinds={"duckdb"}, pool=WAREHOUSE_POOL,
          check_specs=gx_check_specs("fhir_views", "fhir"))
def fhir_views(carebridge: CarebridgeResource) -> dg.MaterializeResult:
    """Evaluates the SQL on FHIR ViewDefinitions of `warehouse/views/` over the FHIR resources into
    `fhir.v_*`, so what analysts count is what trusts receive."""
    counts = materialise_views(carebridge.engine, carebridge.layout.fhir_ndjson)
    fhir_catalog.drop_raw_tables(carebridge.engine)  # the views were the only readers of the JSON tables
    apply_comments(carebridge.engine, "fhir")
    return dg.MaterializeResult(
        metadata={"rows_by_view": counts_table(counts, "view")},
        check_results=gx_check_results(carebridge.layout.gx, "fhir", fhir_catalog.read_views(carebridge.engine, counts)))


@dg.asset(deps=[fhir_views], group_name=WAREHOUSE, kinds={"duckdb"}, pool=WAREHOUSE_POOL,
          check_specs=gx_check_specs("analytics", "analytics"))
def analytics(carebridge: CarebridgeResource) -> dg.MaterializeResult:
    """Builds the row-level `analytics` schema: pseudonymised (person_key = HMAC-SHA256 of the
    person id under a key held outside the warehouse), without opted-out people, no direct identifiers."""
    engine = carebridge.engine
    key, _created = load_or_create_key(carebridge.key_path)
    persons = load_persons(engine)
    catalog.save_person_keys(engine, person_keys(persons["person_id"].to_pylist(), key))
    reference = load_reference(carebridge.landing)
    catalog.save_exclusions(engine, analytics_exclusions(persons, reference.opt_outs))
    load_reference_tables(engine, reference)
    counts = build_marts(engine)
    apply_comments(engine, "analytics")
    tables = catalog.read_tables(engine, catalog.ANALYTICS, counts)
    return dg.MaterializeResult(
        metadata={"rows_by_table": counts_table(counts), **column_schemas("analytics", tables)},
        check_results=gx_check_results(carebridge.layout.gx, "analytics", tables, related=tables))


def _published_key(name: str) -> dg.AssetKey:
    return dg.AssetKey([catalog.PUBLISHED, name])


def _table_metadata(name: str, table) -> dict:
    metadata = {"rows": table.num_rows, "preview": preview(table), **column_schemas("published", {name: table})}
    png = preview_png(name, table)
    if png is not None:
        metadata["chart"] = png_chart(png, name)
    return metadata


@dg.multi_asset(
    name="published", group_name=WAREHOUSE, can_subset=False, pool=WAREHOUSE_POOL,
    specs=[dg.AssetSpec(_published_key(name), deps=[analytics], kinds={"duckdb"}, skippable=True,
                        description=f"published.{name}: aggregates under disclosure control")
           for name in published_specs()],
    check_specs=[dg.AssetCheckSpec(check_name("published", name), asset=_published_key(name), blocking=True,
                                   description=f"Great Expectations suite published/{name}")
                 for name in list_suites("published")])
def published(carebridge: CarebridgeResource):
    """Aggregates safe to share, one asset per table: every count below the threshold suppressed, the
    rest rounded (reference.md disclosure control; threshold and rounding from the code lists). Built
    together: totals are recomputed from their published parts."""
    rule = codes()["disclosure"]
    counts = build_published(carebridge.engine, threshold=rule["suppress_below"], rounding=rule["round_to"])
    apply_comments(carebridge.engine, "published")
    tables = catalog.read_tables(carebridge.engine, catalog.PUBLISHED, counts)
    checks = {r.check_name: r for r in gx_check_results(carebridge.layout.gx, "published", tables)}
    for name in published_specs():
        own = [checks[c] for c in (check_name("published", name),) if c in checks]
        if name in tables:
            yield dg.MaterializeResult(asset_key=_published_key(name), metadata=_table_metadata(name, tables[name]))
        for check in own:
            yield dg.AssetCheckResult(asset_key=_published_key(name), check_name=check.check_name, passed=check.passed,
                                      severity=check.severity, metadata=check.metadata)


@dg.asset(deps=[published], group_name=WAREHOUSE, kinds={"html"})
def data_docs(carebridge: CarebridgeResource) -> dg.MaterializeResult:
    """The Great Expectations Data Docs site for every validation of the run."""
    index = build_data_docs(carebridge.layout.gx, carebridge.layout.data_docs)
    return dg.MaterializeResult(metadata={"index": dg.MetadataValue.path(str(index))})


@dg.asset(deps=[published, data_docs], group_name=WAREHOUSE, kinds={"html"}, pool=WAREHOUSE_POOL)
def report(carebridge: CarebridgeResource) -> dg.MaterializeResult:
    """The static HTML report (`out/report/index.html`): charts of the published tables only,
    self-contained so it opens offline, linking to the Data Docs."""
    index = build_report(carebridge.engine, carebridge.layout.report, data_docs=carebridge.layout.data_docs_index)
    return dg.MaterializeResult(metadata={"index": dg.MetadataValue.path(str(index)),
                                          "size_kib": round(index.stat().st_size / 1024, 1)})
