"""Warehouse assets: FHIR views, published aggregates, Data Docs and the static report (the
analytics marts are pipelines.mart_assets)."""


import dagster as dg

from carebridge.core.reference import codes
from pipelines.fhir_assets import fhir_resources
from pipelines.incremental import code_version, digest, file_gate, files_digest, open_gate, recorded_fingerprints
from pipelines.metadata import column_schemas, counts_table, png_chart, preview
from pipelines.quality import gx_check_results, gx_check_specs, gx_table_check_specs
from pipelines.tables import deps_of
from pipelines.resources import WAREHOUSE_POOL, CarebridgeResource
from warehouse.build import build_published
from warehouse.catalog import analytics as catalog, fhir as fhir_catalog
from warehouse.dictionary import apply_comments
from warehouse.marts.graph import table_references
from warehouse.publish import published_specs, published_sql
from warehouse.views_runner import materialise_views

WAREHOUSE = "warehouse"


@dg.asset(deps=[fhir_resources], group_name=WAREHOUSE, kinds={"duckdb"}, pool=WAREHOUSE_POOL,
          check_specs=gx_check_specs("fhir_views", "fhir"))
def fhir_views(context: dg.AssetExecutionContext, carebridge: CarebridgeResource) -> dg.MaterializeResult:
    """Evaluates the SQL on FHIR ViewDefinitions of `warehouse/views/` over the FHIR resources into
    `fhir.v_*`, so what analysts count is what trusts receive. Unchanged FHIR export (the fingerprint
    fhir_resources recorded; hashing the NDJSON would cost a re-read of it): nothing to do."""
    engine = carebridge.engine
    gate = open_gate(engine, "fhir_views", recorded_fingerprints(engine, "fhir_resources"))
    if gate.unchanged:
        return gate.replayed()
    counts = materialise_views(carebridge.engine, carebridge.layout.fhir_ndjson)
    fhir_catalog.drop_raw_tables(carebridge.engine)  # the views were the only readers of the JSON tables
    apply_comments(carebridge.engine, "fhir")
    checks = gx_check_results(carebridge.layout.gx, "fhir", fhir_catalog.read_views(carebridge.engine, counts),
                              engine=carebridge.engine)
    return gate.record(context.run_id, [dg.MaterializeResult(metadata={"rows_by_view": counts_table(counts, "view"),
                                                                       **gate.metadata()}, check_results=checks)],
                       {"tables": [f"{fhir_catalog.SCHEMA}.{name}" for name in counts]})[0]


def _published_key(name: str) -> dg.AssetKey:
    return dg.AssetKey([catalog.PUBLISHED, name])


def _table_metadata(name: str, table, charts: dict[str, str] | None = None) -> dict:
    """Rows, preview, column schema and chart; `charts` (name -> chart markdown, recorded when the
    tables were built) spares rendering the PNG again for unchanged tables."""
    metadata = {"rows": table.num_rows, "preview": preview(table), **column_schemas("published", {name: table})}
    if charts is not None:
        if charts.get(name):
            metadata["chart"] = dg.MetadataValue.md(charts[name])
        return metadata
    from carebridge.report.previews import preview_png  # altair loads when a table is shown, not with the definitions

    png = preview_png(name, table)
    if png is not None:
        metadata["chart"] = png_chart(png, name)
    return metadata


def _published_deps(name: str) -> list[dg.AssetKey]:
    """The marts and reference tables its SQL reads."""
    return deps_of(table_references(published_sql(name)))


PUBLISHED_KEYS = {name: _published_key(name) for name in published_specs()}


@dg.multi_asset(
    name="published", group_name=WAREHOUSE, can_subset=False, pool=WAREHOUSE_POOL,
    specs=[dg.AssetSpec(key, deps=_published_deps(name), kinds={"duckdb"}, skippable=True,
                        description=f"published.{name}: aggregates under disclosure control")
           for name, key in PUBLISHED_KEYS.items()],
    check_specs=gx_table_check_specs("published", PUBLISHED_KEYS))
def published(context: dg.AssetExecutionContext, carebridge: CarebridgeResource):
    """Aggregates safe to share, one asset per table: every count below the threshold suppressed, the
    rest rounded (reference.md disclosure control; threshold and rounding from the code lists). Built
    together: totals are recomputed from their published parts."""
    rule = codes()["disclosure"]
    engine = carebridge.engine
    gate = open_gate(engine, "published", recorded_fingerprints(engine, "analytics"), rule)
    if gate.unchanged:  # the same tables: shown again (small aggregates) with the charts recorded
        # when they were built (rendering them again was most of an unchanged run's time), checks as recorded
        shown = catalog.read_tables(engine, catalog.PUBLISHED, gate.recorded["outcome"]["published"])
        charts = gate.recorded["outcome"].get("charts", {})
        for name, table in shown.items():
            yield dg.MaterializeResult(asset_key=PUBLISHED_KEYS[name],
                                       metadata=gate.since(_table_metadata(name, table, charts)))
        yield from gate.replay_checks()
        return
    counts = build_published(engine, threshold=rule["suppress_below"], rounding=rule["round_to"])
    apply_comments(engine, "published")
    tables = catalog.read_tables(engine, catalog.PUBLISHED, counts)
    results = [*(dg.MaterializeResult(asset_key=PUBLISHED_KEYS[name], metadata=_table_metadata(name, tables[name]))
                 for name in tables),
               *gx_check_results(carebridge.layout.gx, "published", tables, keys=PUBLISHED_KEYS, engine=engine)]
    charts = {r.asset_key.path[-1]: r.metadata["chart"].value for r in results
              if isinstance(r, dg.MaterializeResult) and "chart" in (r.metadata or {})}
    yield from gate.record(context.run_id, results, {"published": list(tables), "charts": charts,
                                                     "tables": [f"{catalog.PUBLISHED}.{n}" for n in tables]})


@dg.asset(deps=[published], group_name=WAREHOUSE, kinds={"html"})
def data_docs(context: dg.AssetExecutionContext, carebridge: CarebridgeResource) -> dg.MaterializeResult:
    """The Great Expectations Data Docs site for every validation of the run (not rebuilt when no
    validation was added since it was: unchanged stages replay their checks without validating)."""
    layout = carebridge.layout

    def validations() -> str:
        return digest(code_version(), files_digest([layout.gx], layout.gx))

    gate = file_gate(layout.data_docs, "data_docs", validations())
    if gate.unchanged and layout.data_docs_index.exists():
        return gate.replayed({"index": dg.MetadataValue.path(str(layout.data_docs_index))})
    from expectations.runner import build_data_docs  # Great Expectations loads only to build the site

    index = build_data_docs(layout.gx, layout.data_docs)
    gate.fingerprint = validations()  # building the site writes its own files under gx/ too
    gate.record(context.run_id)
    return dg.MaterializeResult(metadata={"index": dg.MetadataValue.path(str(index)), **gate.metadata()})


@dg.asset(deps=[published, data_docs], group_name=WAREHOUSE, kinds={"html"}, pool=WAREHOUSE_POOL)
def report(context: dg.AssetExecutionContext, carebridge: CarebridgeResource) -> dg.MaterializeResult:
    """The static HTML report (`out/report/index.html`): charts of the published tables only,
    self-contained so it opens offline, linking to the Data Docs. Not rebuilt when the published
    tables are those it was built from."""
    from carebridge.report import build_report

    engine, index = carebridge.engine, carebridge.layout.report / "index.html"
    gate = open_gate(engine, "report", recorded_fingerprints(engine, "published"))
    if gate.unchanged and index.exists():
        return gate.replayed({"index": dg.MetadataValue.path(str(index)), "size_kib": round(index.stat().st_size / 1024, 1)})
    index = build_report(engine, carebridge.layout.report, data_docs=carebridge.layout.data_docs_index)
    gate.record(context.run_id)
    return dg.MaterializeResult(metadata={"index": dg.MetadataValue.path(str(index)), **gate.metadata(),
                                          "size_kib": round(index.stat().st_size / 1024, 1)})
