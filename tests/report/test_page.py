"""The report from hand-made published tables: every section drawn, suppressed values never drawn
as zeros, a missing table named, and a page that needs nothing from the network."""

from __future__ import annotations

import json
import re

import pyarrow as pa
import pytest

import pandas as pd

from carebridge.report.charts import ALL_SUPPRESSED, complete_sum
from carebridge.report.data import read_published
from carebridge.report.page import SECTIONS, build_report, build_sections, render_html
from warehouse.db import ensure_schemas, make_engine, write_table

N = None  # a suppressed value


def _t(**columns) -> pa.Table:
    return pa.table(columns)


def _grouped(keys: dict, **values) -> dict:
    """Rows for the `all` group and one age band, with the given key columns."""
    rows = {k: [v, v] for k, v in keys.items()}
    rows.update(group_dimension=["all", "age_band"], group_value=["all", "18-25"])
    rows.update({k: list(v) for k, v in values.items()})
    return rows


def published() -> dict[str, pa.Table]:
    rates = {f"{r}{s}": [40.0, 35.0] for r in ("recovery_rate", "reliable_improvement_rate", "reliable_recovery_rate")
             for s in ("", "_ci_low", "_ci_high")}
    return {
        "activity_by_service_month": _t(month=["2025-04", "2025-04", "2025-05"], provider=["RZZ", "RZY", "RZZ"],
                                        service_type=["A06", "TT", "A06"], people=[20, 10, N],
                                        referrals=[15, 5, N], contacts=[40, 25, N], dna_rate=[10.0, N, N]),
        "waits_by_service": _t(service_type=["TT", "A06"], period=["2025-05", "2025-05"],
                               wait_measure=["first_treatment", "second_contact"], standard_days=[42, 28],
                               referrals=[20, 10], median_wait_days=[30.0, 35.5], pct_within_standard=[80.0, 40.0],
                               target_pct=[75.0, N]),
        "outcomes_by_group": _t(**_grouped({"service_type": "TT", "measure": "TT_COMBINED"}, finished=[50, 20],
                                           recovered=[20, 5], reliable_deterioration_rate=[5.0, N], **rates)),
        "pathways": _t(from_setting=["primary", "secondary"], to_setting=["secondary", "primary"],
                       transition=["first_referral", "step_down"], people=[200, N],
                       median_days_between=[N, 180.0], pct_seen=[70.0, N]),
        "social_prescribing_needs": _t(**_grouped({"need_domain": "isolation"}, referrals=[30, 10], people=[25, 10],
                                                  seen=[20, 5], pct_seen=[66.7, 50.0])),
        "social_prescribing_wellbeing": _t(**_grouped({"measure": "SWEMWBS"}, paired=[20, 5], improved=[10, N],
                                                      deteriorated=[N, N], pct_improved=[50.0, N],
                                                      mean_first=[19.2, 18.0], mean_last=[22.1, 21.0],
                                                      mean_change=[2.9, 3.0])),
        "activity_by_group": _t(**_grouped({"financial_year": "2025-26", "setting": "secondary", "service_type": "A06"},
                                           people=[100, 20], referrals=[110, 20], contacts=[400, 60],
                                           dna_rate=[12.5, 10.0])),
        "waits_by_group": _t(**_grouped({"service_type": "TT", "wait_measure": "first_treatment", "standard_days": 42,
                                         "target_pct": 75.0}, referrals=[60, 15], median_wait_days=[30.0, 28.0],
                                        pct_within_standard=[80.0, 86.7])),
        "data_quality_staging": _t(source=["gp", "mhsds"], table_name=["patient", "MHS101Referral"], files=[12, 12],
                                   files_rejected=[0, N], rows_read=[1000, 500], rows_staged=[950, 490],
                                   rows_quarantined=[20, 10], rows_superseded=[30, 0]),
        "data_quality_quarantine": _t(source=["gp"], table_name=["patient"], reason_code=["invalid_nhs_number"],
                                      rows=[20]),
        "data_quality_linkage": _t(measure=["records", "records_linked_on_nhs_number", "records_unlinked"],
                                   value=[1500, 1400, 100]),
    }


def _values(spec: dict) -> list[dict]:
    """Every inline data row of a Vega-Lite or Vega spec."""
    rows = []
    for dataset in spec.get("datasets", {}).values():
        rows.extend(dataset)
    for data in spec.get("data", []) if isinstance(spec.get("data"), list) else []:
        rows.extend(data.get("values", []))
    return rows


def test_every_section_has_its_charts_when_every_table_is_published():
    sections = build_sections(published(), "../data_docs/index.html")
    assert [s.key for s in sections] == [key for key, *_ in SECTIONS] + ["dictionary"]
    charted = sections[:-1]
    assert all(s.charts and not s.notes for s in charted), [(s.key, s.notes) for s in charted]
    assert {table for table, _, _ in sections[-1].dictionary} == {f"published.{n}" for n in published()}
    quality = sections[-2]
    assert quality.links == (("Great Expectations Data Docs: every validation of the run", "../data_docs/index.html"),)
    for section in sections:
        for chart in section.charts:
            assert chart.source in published() and chart.spec


def test_a_missing_table_is_named_and_the_other_sections_still_draw():
    tables = published()
    del tables["waits_by_group"]
    sections = {s.key: s for s in build_sections(tables)}
    assert sections["equality"].charts == () and "published.waits_by_group" in sections["equality"].notes[0]
    assert sections["waits"].charts


def test_suppressed_values_stay_missing_and_are_never_drawn_as_zero():
    frame = published()["activity_by_service_month"].to_pandas()
    totals = complete_sum(frame, ["service_type", "month"], ["referrals", "contacts"])
    may = totals[totals["month"] == "2025-05"]
    assert len(may) == 1 and may["referrals"].isna().all()  # its one cell suppressed: no total, not 0
    two = pd.DataFrame({"month": ["m", "m"], "service_type": ["A06", "A06"], "referrals": [15.0, N]})
    assert complete_sum(two, ["service_type", "month"], ["referrals"])["referrals"].isna().all()  # never 15
    sections = {s.key: s for s in build_sections(published())}
    flows = _values(sections["pathways"].charts[0].spec)
    assert [r["move"] for r in flows if "path" in r] == ["First referral"]  # the suppressed step-down is not drawn


def test_the_page_is_self_contained_and_shows_suppressed_cells_as_a_star():
    tables = published()
    html = render_html(build_sections(tables), tables, "2026-11-21 10:00 UTC")
    assert "vegaEmbed" in html and len(html) > 500_000          # vega, vega-lite and vega-embed inline
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', html)
    assert "<td>*</td>" in html                                 # e.g. the suppressed May referrals
    charts = json.loads(re.search(r"const CHARTS = (\{.*?\});\n", html).group(1))
    assert len(charts) == sum(len(s.charts) for s in build_sections(tables))
    assert "Period: 2025-04 to 2025-05" in html


@pytest.mark.parametrize("engine_name", ["duckdb", "postgresql"])
def test_the_report_reads_the_published_schema_and_nothing_else(engine_name, warehouse_for, tmp_path):
    url = warehouse_for(engine_name, tmp_path)
    engine = make_engine(url)
    try:
        ensure_schemas(engine)
        for name, table in published().items():
            write_table(engine, "published", name, table)
        write_table(engine, "analytics", "person", pa.table({"person_key": ["sentinel-person-key-93f1"]}))
        assert set(read_published(engine)) == set(published())
        index = build_report(engine, tmp_path / "report", data_docs=None, generated="fixed")
        html = index.read_text(encoding="utf-8")
        assert "sentinel-person-key-93f1" not in html and "Generated fixed" in html
    finally:
        engine.dispose()


def test_a_chart_with_nothing_published_says_so_instead_of_drawing_empty_axes():
    tables = published()
    tables["data_quality_quarantine"] = tables["data_quality_quarantine"].slice(0, 0)
    quality = {s.key: s for s in build_sections(tables)}["data-quality"]
    reasons = next(c for c in quality.charts if c.key == "dq_reasons")
    assert reasons.empty and reasons.spec["mark"]["type"] == "text"
    assert not any(c.empty for c in quality.charts if c.key != "dq_reasons")


MONTHS = [f"2025-{m:02d}" for m in range(4, 13)] + ["2026-01", "2026-02", "2026-03"]


def _monthly(referrals: list) -> pa.Table:
    n = len(MONTHS)
    return _t(month=MONTHS, provider=["RZZ"] * n, service_type=["A06"] * n, people=referrals, referrals=referrals,
              contacts=referrals, dna_rate=[N] * n)


def test_a_monthly_series_with_its_months_published_is_an_xmr_chart():
    tables = published()
    tables["activity_by_service_month"] = _monthly([20, 25, 20, 30, 25, 20, 25, 20, 30, 25, 90, 20])
    activity = {c.key: c for c in {s.key: s for s in build_sections(tables)}["activity"].charts}
    chart = activity["activity_xmr_A06"]
    rows = [r for r in _values(chart.spec) if r.get("measure") == "referrals"]
    assert len(rows) == 12 and rows[0]["mean"] == pytest.approx(sum(r["value"] for r in rows) / 12)
    assert {r["variation"] for r in rows if r["value"] == 90} == {"special cause"}  # above the upper limit
    assert chart.spec["width"] == "container" and "Making Data Count" in chart.caption
    assert "activity_by_year" not in activity


def test_mostly_suppressed_months_are_shown_by_financial_year_from_published_yearly_figures():
    tables = published()
    tables["activity_by_service_month"] = _monthly([20, N, N, 25, N, N, N, N, 20, N, N, N])
    activity = {s.key: s for s in build_sections(tables)}["activity"].charts
    assert [c.key for c in activity] == ["activity_by_year"]
    yearly = activity[0]
    assert yearly.source == "activity_by_group" and "suppressed" in yearly.caption and "financial year" in yearly.caption
    assert {r["value"] for r in _values(yearly.spec) if r["measure"] == "referrals"} == {110}  # the published figure


def test_a_chart_whose_every_value_is_suppressed_says_so_in_words():
    tables = published()
    waits = tables["waits_by_group"].to_pandas().assign(pct_within_standard=None, median_wait_days=None)
    tables["waits_by_group"] = pa.Table.from_pandas(waits, preserve_index=False)
    tables["waits_by_service"] = tables["waits_by_service"].slice(0, 0)
    waits_section = {s.key: s for s in build_sections(tables)}["waits"]
    assert [c.spec.get("description") for c in waits_section.charts] == [ALL_SUPPRESSED]
    html = render_html(build_sections(tables), tables, "now")
    assert "All values suppressed" in html


def test_codes_are_shown_by_their_names():
    tables = published()
    tables["social_prescribing_needs"] = _t(**_grouped({"need_domain": "mental_wellbeing"}, referrals=[30, 10],
                                                       people=[25, 10], seen=[20, 5], pct_seen=[66.7, 50.0]))
    html = render_html(build_sections(tables), tables, "now")
    for raw in ("mental_wellbeing", "first_referral", "step_down", "rows_staged", "records_unlinked"):
        assert f"<td>{raw}</td>" not in html, raw
    assert "<td>Mental wellbeing</td>" in html and "<td>First referral</td>" in html
    sections = {s.key: s for s in build_sections(tables)}
    needs = sections["social-prescribing"].charts[0].spec
    assert needs["encoding"]["y"]["field"] == "need" and {"Mental wellbeing"} <= {r.get("need") for r in _values(needs)}
