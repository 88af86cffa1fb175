"""Small charts of published tables, as PNG, for the Dagster asset metadata (rendered offline)."""

from __future__ import annotations

import altair as alt
import pyarrow as pa
import vl_convert

from carebridge.report.labels import settings
from warehouse.publish import published_specs

__all__ = ["preview_spec", "preview_png"]


def _declared(name: str, table: pa.Table) -> dict | None:
    declared = settings()["previews"].get(name)
    if declared:
        return declared
    spec = published_specs().get(name)
    if spec is None or not spec.counts or not table.column_names:
        return None
    return {"by": table.column_names[0], "value": spec.counts[0]}


def preview_spec(name: str, table: pa.Table) -> dict | None:
    """A bar chart of `value` summed by `by` (suppressed cells add nothing); None if nothing to draw."""
    declared = _declared(name, table)
    if declared is None or not {declared["by"], declared["value"]} <= set(table.column_names):
        return None
    frame = table.to_pandas()
    for column, value in (declared.get("where") or {}).items():
        frame = frame[frame[column] == value]
    sums = frame.groupby(declared["by"], as_index=False)[declared["value"]].sum(min_count=1).dropna()
    if sums.empty:
        return None
    chart = (alt.Chart(sums, title=f"{declared['value']} by {declared['by']}")
             .mark_bar(color="#005eb8")
             .encode(x=alt.X(f"{declared['by']}:N", title=None, sort=None), y=alt.Y(f"{declared['value']}:Q", title=None))
             .properties(width=360, height=120))
    return chart.to_dict()


def preview_png(name: str, table: pa.Table) -> bytes | None:
    spec = preview_spec(name, table)
    return None if spec is None else vl_convert.vegalite_to_png(spec, scale=1)
