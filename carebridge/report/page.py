"""Assemble the report: sections from the published tables, one self-contained HTML file.

The page carries the Vega, Vega-Lite and vega-embed JavaScript inline (from vl-convert's bundle),
so it opens offline, from a file share or an email attachment, and loads nothing from the network.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

import jinja2
import pyarrow as pa
import sqlalchemy as sa
import vl_convert

from carebridge.core.reference import codes
from carebridge.report import charts
from carebridge.report.data import read_published
from carebridge.report.labels import label, settings
from carebridge.report.model import Chart, Section
from warehouse.dictionary import tables_of
from warehouse.publish import SUPPRESSED, published_specs

__all__ = ["SECTIONS", "build_sections", "render_html", "build_report"]

Tables = Mapping[str, pa.Table]

# (key, title, intro, published tables it needs, chart builder)
SECTIONS: tuple[tuple[str, str, str, tuple[str, ...], Callable[[Tables], list[Chart]]], ...] = (
    ("activity", "Activity", "Who each service saw, month by month.",
     ("activity_by_service_month",), charts.activity_charts),
    ("waits", "Waits against the standards", "How long people waited, against each service's access standard.",
     ("waits_by_service",), charts.wait_charts),
    ("outcomes", "Outcomes", "Whether people got better, by the national definitions, for every group.",
     ("outcomes_by_group",), charts.outcome_charts),
    ("pathways", "Pathways between settings", "Who moved between primary care, Talking Therapies, the mental "
     "health trust and the voluntary sector, and whether the receiving service saw them.",
     ("pathways",), charts.pathway_charts),
    ("social-prescribing", "Social prescribing", "Who VCSE services are asked to help, with what, and what "
     "happened to their wellbeing.", ("social_prescribing_needs", "social_prescribing_wellbeing"),
     charts.social_prescribing_charts),
    ("equality", "Equality", "The same measures by age band, sex, ethnic group and deprivation.",
     ("activity_by_group", "waits_by_group"), charts.equality_charts),
    ("data-quality", "Data quality", "Every row that arrived is accounted for: staged, quarantined with a "
     "reason, or superseded by a later submission; and how records were linked to people.",
     ("data_quality_staging", "data_quality_quarantine", "data_quality_linkage"), charts.data_quality_charts),
)


def build_sections(tables: Tables, data_docs_href: str | None = None) -> list[Section]:
    """Every section whose published tables are present; a section missing one says which."""
    sections = []
    for key, title, intro, needs, build in SECTIONS:
        missing = [name for name in needs if name not in tables]
        if missing:
            notes = (f"Not available: this warehouse has no published.{', published.'.join(missing)} "
                     "(re-run the build to create it).",)
            sections.append(Section(key, title, intro, notes=notes))
            continue
        links = (("Great Expectations Data Docs: every validation of the run", data_docs_href),) \
            if key == "data-quality" and data_docs_href else ()
        sections.append(Section(key, title, intro, tuple(build(tables)), links=links))
    sections.append(_dictionary_section(tables))
    return sections


def _dictionary_section(tables: Tables) -> Section:
    """What every published table and column means (warehouse/dictionary.yaml), for the tables this report read."""
    entries = tuple((f"published.{name}", doc.description, tuple(doc.columns.items()))
                    for name, doc in tables_of("published").items() if name in tables)
    return Section("dictionary", "Data dictionary", "What each published table and column holds: the same "
                   "descriptions as the warehouse's own comments and docs/data-dictionary.md. A NULL (shown as * "
                   "in the tables) in a count, rate or statistic is a suppressed value.", dictionary=entries)


def _cell(value: object, controlled: bool, kind: str | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return SUPPRESSED if controlled else ""
    if kind is not None:
        return label(kind, value)
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _table_rows(chart: Chart, controlled: set[str], limit: int = 200) -> tuple[list[tuple[str, str]], list[list[str]], int]:
    """The published rows behind a chart: (column, its description) headers and cells, codes shown by name."""
    columns = chart.rows.column_names
    kinds = {**settings()["column_labels"], **settings()["table_column_labels"].get(chart.source, {})}
    described = tables_of("published").get(chart.source)
    headers = [(c, described.columns.get(c, "") if described else "") for c in columns]
    rows = chart.rows.slice(0, limit).to_pylist()
    return headers, [[_cell(r[c], c in controlled, kinds.get(c)) for c in columns] for r in rows], chart.rows.num_rows


def _script_json(value: object) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


def _period(tables: Tables) -> str:
    activity = tables.get("activity_by_service_month")
    if activity is None or activity.num_rows == 0:
        return "no activity published"
    months = sorted(m for m in activity["month"].to_pylist() if m)
    return f"{months[0]} to {months[-1]}"


@cache
def _vega_bundle() -> str:
    """vega, vega-lite and vega-embed as one script (built by vl-convert, offline, once per process)."""
    return vl_convert.javascript_bundle()


def render_html(sections: Sequence[Section], tables: Tables, generated: str) -> str:
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent),
                                     autoescape=True, trim_blocks=True, lstrip_blocks=True)
    controlled = {name: set(spec.controlled) for name, spec in published_specs().items()}
    specs = {c.key: {"spec": c.spec, "mode": c.mode} for s in sections for c in s.charts}
    rule = codes()["disclosure"]
    return environment.get_template("template.html.j2").render(
        title=settings()["title"], sections=sections, generated=generated, period=_period(tables),
        suppress_below=rule["suppress_below"], round_to=rule["round_to"], suppressed=SUPPRESSED,
        table_of=lambda chart: _table_rows(chart, controlled.get(chart.source, set())),
        vega_bundle=_vega_bundle(), charts_json=_script_json(specs))


def build_report(engine: sa.Engine, out_dir: Path, data_docs: Path | None = None,
                 generated: str | None = None) -> Path:
    """Write `<out_dir>/index.html` from the `published` schema of `engine`; returns its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = read_published(engine)
    href = os.path.relpath(data_docs, out_dir) if data_docs is not None and Path(data_docs).exists() else None
    sections = build_sections(tables, href)
    stamp = generated or datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    index = out_dir / "index.html"
    index.write_text(render_html(sections, tables, stamp), encoding="utf-8")
    return index
