"""Warehouse assets: FHIR views, the pseudonymised analytics marts, published aggregates, Data Docs
and the static report."""


import dagster as dg
import pyarrow as pa

from carebridge.core.keys import load_or_create_key
from carebridge.core.reference import codes, load_reference
from expectations.runner import build_data_docs
from carebridge.report import build_report
from carebridge.report.previews import preview_png
from pipelines.fhir_assets import fhir_resources
from pipelines.metadata import counts_table, png_chart, preview
from pipelines.quality import gx_check_results, gx_check_specs
from pipelines.resources import WAREHOUSE_POOL, CarebridgeResource
from warehouse.build import build_marts, build_published, load_reference_tables, person_keys
from warehouse.db import read_table, write_table
from warehouse.exclusions import analytics_exclusions
from warehouse.views_runner import materialise_views

WAREHOUSE = "warehouse"


def _tables(carebridge: CarebridgeResource, schema: str, names) -> dict[str, pa.Table]:
    return {name: read_table(carebridge.engine, schema, name) for name in names}


@dg.asset(deps=[fhir_resources], group_name=WAREHOUSE, kinds={"duckdb"}, pool=WAREHOUSE_POOL,
          check_specs=gx_check_specs("fhir_views", "fhir"))
def fhir_views(carebridge: CarebridgeResource) -> dg.MaterializeResult:
    """Evaluates the SQL on FHIR ViewDefinitions of `warehouse/views/` over the FHIR resources into
    `identifiable.v_*`, so what analysts count is what trusts receive."""
    counts = materialise_views(carebridge.engine, carebridge.out / "fhir" / "ndjson")
    return dg.MaterializeResult(
        metadata={"rows_by_view": counts_table(counts, "view")},
        check_results=gx_check_results(carebridge.out / "gx", "fhir", _tables(carebridge, "identifiable", counts)))


@dg.asset(deps=[fhir_views], group_name=WAREHOUSE, kinds={"duckdb"}, pool=WAREHOUSE_POOL,
          check_specs=gx_check_specs("analytics", "analytics"))
def analytics(carebridge: CarebridgeResource) -> dg.MaterializeResult:
    """Builds the row-level `analytics` schema: pseudonymised (person_key = HMAC-SHA256 of the
    person id under a key held outside the warehouse), without opted-out people, no direct identifiers."""
    engine = carebridge.engine
    key, _created = load_or_create_key(carebridge.key_path)
    persons = read_table(engine, "identifiable", "person")
    write_table(engine, "identifiable", "person_key_map", person_keys(persons["person_id"].to_pylist(), key))
    reference = load_reference(carebridge.landing)
    write_table(engine, "identifiable", "analytics_exclusions", analytics_exclusions(persons, reference.opt_outs))
    load_reference_tables(engine, reference)
    counts = build_marts(engine)
    tables = _tables(carebridge, "analytics", counts)
    return dg.MaterializeResult(
        metadata={"rows_by_table": counts_table(counts)},
        check_results=gx_check_results(carebridge.out / "gx", "analytics", tables, related=tables))


@dg.asset(deps=[analytics], group_name=WAREHOUSE, kinds={"duckdb"}, pool=WAREHOUSE_POOL,
          check_specs=gx_check_specs("published", "published"))
def published(carebridge: CarebridgeResource) -> dg.MaterializeResult:
    """Aggregates safe to share: every count below the threshold suppressed, the rest rounded
    (reference.md disclosure control; threshold and rounding from the code lists)."""
    rule = codes()["disclosure"]
    counts = build_published(carebridge.engine, threshold=rule["suppress_below"], rounding=rule["round_to"])
    tables = _tables(carebridge, "published", counts)
    metadata = {"rows_by_table": counts_table(counts)}
    for name, table in tables.items():
        metadata[f"preview_{name}"] = preview(table)
        png = preview_png(name, table)
        if png is not None:
            metadata[f"chart_{name}"] = png_chart(png, name)
    return dg.MaterializeResult(metadata=metadata,
                                check_results=gx_check_results(carebridge.out / "gx", "published", tables))


@dg.asset(deps=[published], group_name=WAREHOUSE, kinds={"html"})
def data_docs(carebridge: CarebridgeResource) -> dg.MaterializeResult:
    """The Great Expectations Data Docs site for every validation of the run."""
    index = build_data_docs(carebridge.out / "gx", carebridge.out / "data_docs")
    return dg.MaterializeResult(metadata={"index": dg.MetadataValue.path(str(index))})


@dg.asset(deps=[published, data_docs], group_name=WAREHOUSE, kinds={"html"}, pool=WAREHOUSE_POOL)
def report(carebridge: CarebridgeResource) -> dg.MaterializeResult:
    """The static HTML report (`out/report/index.html`): charts of the published tables only,
    self-contained so it opens offline, linking to the Data Docs."""
    index = build_report(carebridge.engine, carebridge.out / "report", data_docs=carebridge.out / "data_docs" / "index.html")
    return dg.MaterializeResult(metadata={"index": dg.MetadataValue.path(str(index)),
                                          "size_kib": round(index.stat().st_size / 1024, 1)})
