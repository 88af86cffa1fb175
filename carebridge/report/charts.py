"""Chart builders: published tables in, Vega-Lite / Vega specs out (pure functions, no I/O).

Every figure is a published value: suppressed values stay missing (a gap in a line, no bar), never
zero. Where a chart adds published cells up (a month over several providers) it only does so when
every cell is published, and says so; a total is never made of the cells that survived suppression.
Charts are full width (Vega-Lite `width: "container"`), one view each. Monthly series are Making
Data Count XmR charts (carebridge.report.spc); a series whose months are mostly suppressed is shown
at the coarser period the published tables hold (financial year, or the whole period) instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import altair as alt
import pandas as pd
import pyarrow as pa

from carebridge.core.reference import codes
from carebridge.report import sankey, spc
from carebridge.report.labels import label, settings
from carebridge.report.model import Chart

__all__ = ["activity_charts", "wait_charts", "outcome_charts", "pathway_charts", "social_prescribing_charts",
           "equality_charts", "data_quality_charts", "NOTHING", "ALL_SUPPRESSED", "monthly_enough", "xmr_frame",
           "complete_sum"]

WIDTH = "container"
LEGEND = alt.Legend(orient="bottom", direction="vertical", labelLimit=600)  # long service names stay readable
Tables = Mapping[str, pa.Table]

NOTHING = "Nothing to draw: no rows were published for this chart."
ALL_SUPPRESSED = ("All values suppressed: every figure for this chart was below the disclosure threshold, "
                  "so none can be shown.")
EMPTY = (NOTHING, ALL_SUPPRESSED)


def _frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas()


def _has_values(frame: pd.DataFrame, column: str) -> bool:
    return column in frame.columns and bool(frame[column].notna().any())


def _labels(values: pd.Series, kind: str) -> pd.Series:
    """Each code of `values` with its name (report.yaml, code lists)."""
    return values.map(lambda code: label(kind, code)).astype(object)


def _spec(chart: alt.TopLevelMixin, frame: pd.DataFrame | None = None, column: str | None = None) -> dict:
    """The chart's spec, or a one-line message where `frame` has nothing to draw in `column`: no rows
    at all, or rows whose every value is suppressed (said in words, not an empty pair of axes)."""
    if frame is not None and column is not None:
        if frame.empty or column not in frame.columns:
            return _message(NOTHING)
        if not _has_values(frame, column):
            return _message(ALL_SUPPRESSED)
    return chart.to_dict()


def _message(text: str) -> dict:
    return (alt.Chart(pd.DataFrame({"text": [text]})).mark_text(align="left", fontSize=14, color="#5c6370")
            .encode(text="text:N").properties(width=WIDTH, height=30, description=text)).to_dict()


def _chart(key: str, title: str, spec: dict, source: str, rows: pa.Table, **kwargs) -> Chart:
    if spec.get("width") == WIDTH:  # fill the page's width; heights stay as declared (steps or pixels)
        spec["autosize"] = {"type": "fit-x", "contains": "padding"}
        spec.setdefault("config", {}).setdefault("axis", {})["labelLimit"] = 420
    return Chart(key, title, spec, source, rows, empty=spec.get("description") in EMPTY, **kwargs)


def _height(categories: pd.Series, step: int) -> int:
    """A fixed pixel height for a chart with one band per category (a full-width chart cannot size
    its height in steps without Vega-Lite warning)."""
    return max(40, step * int(categories.nunique()))


def _rows(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> pa.Table:
    return pa.Table.from_pandas(frame[list(columns)] if columns else frame, preserve_index=False)


def _dimension_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the four equality dimensions (not the `all` totals), with readable names."""
    rows = frame[frame["group_dimension"] != "all"].copy()
    rows["dimension"] = _labels(rows["group_dimension"], "dimensions")
    rows["group"] = _labels(rows["group_value"], "group_values")
    return rows


# --- monthly series: XmR, or the coarser period ------------------------------------------------

def monthly_enough(values: Sequence[float | None], months: int) -> bool:
    """Whether a monthly series has enough published months to be drawn month by month (report.yaml spc)."""
    rule = settings()["spc"]
    published = sum(v is not None and not pd.isna(v) for v in values)
    return months > 0 and published >= rule["min_points"] and published / months >= rule["min_published_share"]


def complete_sum(frame: pd.DataFrame, by: list[str], columns: list[str]) -> pd.DataFrame:
    """`columns` summed over the rows of each `by` group, only where every row's value is published;
    a group with a suppressed cell gets no total (None), never the sum of the cells that survived."""
    grouped = frame.groupby(by, as_index=False, dropna=False)
    totals = grouped[columns].sum(min_count=1)
    complete = grouped[columns].agg(lambda s: bool(s.notna().all()))
    for column in columns:
        totals[column] = totals[column].where(complete[column].astype(bool), None)
    return totals


def xmr_frame(periods: Sequence[str], series: Mapping[str, Sequence[float | None]],
              improvement: Mapping[str, str | None] | None = None,
              bounds: Mapping[str, tuple[float | None, float | None]] | None = None) -> pd.DataFrame:
    """One row per measure and period: value, mean, process limits and the Making Data Count reading."""
    parts = []
    for measure, values in series.items():
        low, high = (bounds or {}).get(measure, (None, None))
        chart = spc.xmr(list(values), lower_bound=low, upper_bound=high)
        parts.append(pd.DataFrame({
            "period": list(periods), "measure": measure, "value": [p.value for p in chart.points],
            "mean": chart.mean, "upper": chart.upper, "lower": chart.lower,
            "variation": [spc.variation(p, chart.mean, (improvement or {}).get(measure)) for p in chart.points]}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _xmr_chart(frame: pd.DataFrame, title: str, y_title: str, x_title: str, measures: Mapping[str, str],
               target: float | None = None) -> alt.TopLevelMixin:
    """An XmR chart: the values as a line, each point coloured by its variation, the mean (solid) and
    the process limits (dashed); with a measure picker when the frame holds several measures."""
    colours = settings()["spc"]["colours"]
    data = frame.assign(measure_name=frame["measure"].map(measures), target=target)
    x = alt.X("period:O", title=x_title)
    base = alt.Chart(data)
    layers = [
        base.mark_line(color="#c0c0c0").encode(x=x, y=alt.Y("value:Q", title=y_title)),
        base.mark_line(color="#2e3440", strokeWidth=1).encode(x=x, y="mean:Q"),
        base.mark_line(color="#7f7f7f", strokeDash=[6, 4], strokeWidth=1).encode(x=x, y="upper:Q"),
        base.mark_line(color="#7f7f7f", strokeDash=[6, 4], strokeWidth=1).encode(x=x, y="lower:Q"),
        base.mark_point(filled=True, size=70).encode(
            x=x, y="value:Q",
            color=alt.Color("variation:N", title="Variation", legend=alt.Legend(orient="bottom"),
                            scale=alt.Scale(domain=list(colours), range=list(colours.values()))),
            tooltip=[alt.Tooltip("period:O", title="Period"), alt.Tooltip("measure_name:N", title="Measure"),
                     alt.Tooltip("value:Q", title="Value", format=",.1f"),
                     alt.Tooltip("mean:Q", title="Mean", format=",.1f"),
                     alt.Tooltip("lower:Q", title="Lower process limit", format=",.1f"),
                     alt.Tooltip("upper:Q", title="Upper process limit", format=",.1f"),
                     alt.Tooltip("variation:N", title="Variation")]),
    ]
    if target is not None:
        layers.append(base.mark_line(color="#bf616a", strokeDash=[2, 2]).encode(x=x, y="target:Q"))
    chart = alt.layer(*layers).properties(width=WIDTH, height=200, title=title)
    if len(measures) > 1:
        first = next(iter(measures))
        choice = alt.param(value=first, bind=alt.binding_select(options=list(measures),
                                                                labels=list(measures.values()), name="Show "))
        chart = chart.add_params(choice).transform_filter(alt.datum.measure == choice)
    return chart


XMR_CAPTION = ("Making Data Count XmR chart: solid line the mean, dashed lines the process limits (mean ± 2.66 × "
               "the mean moving range). Special cause: a point outside the limits, 7 or more in a row on one side "
               "of the mean, or 6 or more in a row rising or falling. Suppressed months are gaps, left out of the "
               "mean and the limits.")


# --- activity --------------------------------------------------------------------------------

def activity_charts(tables: Tables) -> list[Chart]:
    table = tables["activity_by_service_month"]
    frame = _frame(table)
    measures = {m: settings()["activity_measures"][m] for m in ("referrals", "contacts", "people")}
    if frame.empty:
        return [_chart("activity_by_month", "Activity by service type and month", _message(NOTHING),
                       "activity_by_service_month", table)]
    months = sorted(frame["month"].dropna().unique())
    totals = complete_sum(frame, ["service_type", "month"], list(measures))
    charts, coarse = [], []
    for service_type, rows in totals.groupby("service_type", sort=True):
        rows = rows.set_index("month").reindex(months)
        if not monthly_enough(list(rows["referrals"]), len(months)):
            coarse.append(service_type)
            continue
        xmr = xmr_frame(months, {m: list(rows[m]) for m in measures}, bounds={m: (0, None) for m in measures})
        name = label("service_types", service_type)
        charts.append(_chart(f"activity_xmr_{service_type}", f"{name}: activity by month",
                             _spec(_xmr_chart(xmr, name, "Count", "Month", measures), xmr, "value"),
                             "activity_by_service_month", _rows(frame[frame["service_type"] == service_type]),
                             caption=XMR_CAPTION + " Each month adds up the published (rounded) cells of the service "
                                                   "type's providers, and only when none of them was suppressed."))
    if coarse:
        charts.append(_yearly_activity(tables, coarse, measures))
    return charts


def _yearly_activity(tables: Tables, service_types: list[str], measures: Mapping[str, str]) -> Chart:
    names = ", ".join(label("service_types", s) for s in service_types)
    caption = (f"Most months are suppressed at this population's size for: {names}. They are shown by NHS financial "
               "year instead, from published.activity_by_group (the published yearly figures, not a sum of months).")
    if "activity_by_group" not in tables:
        return _chart("activity_by_year", "Activity by financial year", _message(NOTHING), "activity_by_service_month",
                      tables["activity_by_service_month"], caption=caption + " That table is not in this warehouse.")
    yearly = _frame(tables["activity_by_group"])
    yearly = yearly[(yearly["group_dimension"] == "all") & yearly["service_type"].isin(service_types)].copy()
    yearly["service"] = _labels(yearly["service_type"], "service_types")
    long = yearly.melt(id_vars=["financial_year", "service"], value_vars=list(measures), var_name="measure",
                       value_name="value")
    choice = alt.param(value="referrals", bind=alt.binding_select(options=list(measures),
                                                                  labels=list(measures.values()), name="Show "))
    bars = (alt.Chart(long, title="Activity by service type and NHS financial year")
            .mark_bar().encode(y=alt.Y("service:N", title=None, sort="ascending"),
                               x=alt.X("value:Q", title="Count (published, rounded)"),
                               yOffset="financial_year:N",
                               color=alt.Color("financial_year:N", title="Financial year", legend=LEGEND),
                               tooltip=["service:N", "financial_year:N", "measure:N", alt.Tooltip("value:Q", format=",")])
            .add_params(choice).transform_filter(alt.datum.measure == choice)
            .properties(width=WIDTH, height=max(60, 20 * len(yearly[["service", "financial_year"]].drop_duplicates()))))
    unpublished = sorted(set(service_types) - set(yearly.loc[yearly["referrals"].notna(), "service_type"]))
    if unpublished:
        caption += (" All values suppressed for the year as well for: "
                    + ", ".join(label("service_types", s) for s in unpublished) + ".")
    return _chart("activity_by_year", "Activity by financial year", _spec(bars, long, "value"), "activity_by_group",
                  _rows(yearly.drop(columns=["service"])), caption=caption)


# --- waits -----------------------------------------------------------------------------------

def _standard(service_type: object, standard_days: object) -> str:
    return f"{label('service_types', service_type)}: {standard_days} days"


def _standards(frame: pd.DataFrame) -> pd.Series:
    """The standard each row's wait is measured against, e.g. `TT NHS Talking Therapies: 42 days`."""
    return _labels(frame["service_type"], "service_types") + ": " + frame["standard_days"].astype(str) + " days"


WAITS_CAPTION = ("Talking Therapies: referral to first attended treatment (6 and 18 weeks); early intervention in "
                 "psychosis: first attended contact (2 weeks); core community teams: second attended contact "
                 "(4 weeks). Did-not-attend and cancelled appointments do not stop the clock.")


def wait_charts(tables: Tables) -> list[Chart]:
    table = tables["waits_by_service"]
    frame = _frame(table)
    keys = ["service_type", "wait_measure", "standard_days"]
    values = {m: settings()["wait_values"][m] for m in ("pct_within_standard", "median_wait_days")}
    charts, coarse = [], []
    months = sorted(frame["period"].dropna().unique()) if not frame.empty else []
    for key, rows in frame.groupby(keys, sort=True):
        rows = rows.set_index("period").reindex(months)
        if not monthly_enough(list(rows["pct_within_standard"]), len(months)):
            coarse.append(key)
            continue
        service_type, wait_measure, days = key
        target = rows["target_pct"].dropna().max() if "target_pct" in rows else None
        xmr = xmr_frame(months, {m: list(rows[m]) for m in values}, improvement={"pct_within_standard": "up",
                                                                                "median_wait_days": "down"},
                        bounds={"pct_within_standard": (0, 100), "median_wait_days": (0, None)})
        title = f"{_standard(service_type, days)} ({label('wait_measures', wait_measure)})"
        charts.append(_chart(f"waits_xmr_{service_type}_{wait_measure}_{days}", title,
                             _spec(_xmr_chart(xmr, title, "Value", "Month the wait ended", values,
                                              target=None if pd.isna(target) else float(target)), xmr, "value"),
                             "waits_by_service", _rows(frame[(frame[keys] == pd.Series(key, index=keys)).all(axis=1)]),
                             caption=XMR_CAPTION + " Red dotted line: the national target. " + WAITS_CAPTION))
    if coarse or frame.empty:
        charts.append(_whole_period_waits(tables, coarse, frame.empty))
    return charts


def _whole_period_waits(tables: Tables, keys: list[tuple], nothing_monthly: bool) -> Chart:
    named = ", ".join(_standard(s, d) for s, _, d in keys)
    caption = ((f"Most months are suppressed at this population's size for: {named}. " if keys else "")
               + "Shown over the whole period instead, from the published all-people rows of "
                 "published.waits_by_group. Red tick: the national target. " + WAITS_CAPTION)
    if "waits_by_group" not in tables:
        return _chart("waits_whole_period", "Waits over the whole period", _message(NOTHING), "waits_by_service",
                      tables["waits_by_service"], caption=caption + " That table is not in this warehouse.")
    frame = _frame(tables["waits_by_group"])
    frame = frame[frame["group_dimension"] == "all"]
    if keys and not nothing_monthly:
        wanted = pd.MultiIndex.from_tuples(keys)
        frame = frame[pd.MultiIndex.from_frame(frame[["service_type", "wait_measure", "standard_days"]]).isin(wanted)]
    frame = frame.assign(standard=_standards(frame), measure=_labels(frame["wait_measure"], "wait_measures"))
    y = alt.Y("standard:N", title=None)
    x_scale = alt.Scale(domain=[0, 100])
    chart = alt.layer(
        alt.Chart(frame).mark_bar().encode(
            x=alt.X("pct_within_standard:Q", title="% of waits within the standard", scale=x_scale), y=y,
            tooltip=["standard:N", "measure:N", alt.Tooltip("referrals:Q", format=","), "pct_within_standard:Q",
                     "median_wait_days:Q", "target_pct:Q"]),
        alt.Chart(frame).mark_tick(color="#bf616a", thickness=3).encode(x=alt.X("target_pct:Q", scale=x_scale), y=y),
    ).properties(width=WIDTH, height=_height(frame["standard"], 26),
                 title="Share of waits within the access standard, whole period")
    return _chart("waits_whole_period", "Waits over the whole period", _spec(chart, frame, "pct_within_standard"),
                  "waits_by_group", _rows(frame.drop(columns=["standard", "measure"])), caption=caption)


# --- outcomes --------------------------------------------------------------------------------

RATES = {"recovery_rate": "Recovery", "reliable_improvement_rate": "Reliable improvement",
         "reliable_recovery_rate": "Reliable recovery"}


def _rates_long(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per group and rate, with its confidence interval where published."""
    parts = []
    for column, name in RATES.items():
        if column not in frame.columns:
            continue
        part = frame[["group_dimension", "group_value", "finished"]].copy()
        part["rate"], part["value"] = name, frame[column]
        part["ci_low"] = frame.get(f"{column}_ci_low")
        part["ci_high"] = frame.get(f"{column}_ci_high")
        parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _per_dimension(frame: pd.DataFrame, key: str, title: str, draw: Callable[[pd.DataFrame], alt.TopLevelMixin],
                   value: str, source: str, rows: pd.DataFrame, caption: str) -> list[Chart]:
    """One full-width chart per equality dimension (so each is only as tall as its own groups); a
    dimension whose every value is suppressed says so."""
    charts = []
    for dimension in ("age_band", "sex", "ethnic_group", "imd_quintile"):
        part = frame[frame["group_dimension"] == dimension]
        name = label("dimensions", dimension)
        charts.append(_chart(f"{key}_{dimension}", f"{title}: by {name.lower()}",
                             _spec(draw(part).properties(title=f"{title}: by {name.lower()}"), part, value), source,
                             _rows(rows[rows["group_dimension"].isin(["all", dimension])]), caption=caption))
    return charts


def _rate_by_group(frame: pd.DataFrame, target: float | None) -> Callable[[pd.DataFrame], alt.TopLevelMixin]:
    rates = _rates_long(frame)
    overall = rates[rates["group_dimension"] == "all"].set_index("rate")["value"]
    x_scale = alt.Scale(domain=[0, 100])

    def draw(part: pd.DataFrame) -> alt.TopLevelMixin:
        long = _rates_long(part)
        long = _dimension_rows(long).assign(overall=lambda f: f["rate"].map(overall),
                                            target=lambda f: [target if r == "Recovery" else None for r in f["rate"]])
        y = alt.Y("group:N", title=None)
        colour = alt.Color("rate:N", title="Rate", legend=alt.Legend(orient="bottom"))
        base = alt.Chart(long)
        return alt.layer(
            base.mark_rule().encode(x=alt.X("ci_low:Q", scale=x_scale), x2="ci_high:Q", y=y, yOffset="rate:N",
                                    color=colour),
            base.mark_point(filled=True, size=60).encode(
                x=alt.X("value:Q", title="% of people who finished treatment", scale=x_scale), y=y, yOffset="rate:N",
                color=colour, tooltip=["dimension:N", "group:N", "rate:N", "value:Q", "ci_low:Q", "ci_high:Q",
                                       "finished:Q"]),
            base.mark_tick(color="#bf616a", thickness=2).encode(x="target:Q", y=y),
        ).properties(width=WIDTH, height=max(60, 40 * long["group"].nunique()))
    return draw


def outcome_charts(tables: Tables) -> list[Chart]:
    table = tables["outcomes_by_group"]
    frame = _frame(table)
    charts = []
    for measure, spec in settings()["outcome_measures"].items():
        rows = frame[frame["measure"] == measure]
        if rows.empty:
            continue
        charts += _per_dimension(rows, f"outcomes_{measure.lower()}", spec["label"],
                                 _rate_by_group(rows, spec.get("recovery_target")), "recovery_rate",
                                 "outcomes_by_group", rows,
                                 caption="Points: rate per group; lines: 95% Wilson confidence interval; red tick: "
                                         "the 50% recovery standard. Recovery rate = recovered / (finished treatment "
                                         "- not at caseness at the start).")
    community = frame[(frame["group_dimension"] == "all") & ~frame["measure"].isin(list(settings()["outcome_measures"]))]
    community = community.assign(service=_labels(community["service_type"], "service_types"),
                                 measure_name=_labels(community["measure"], "measures"))
    community = community.assign(row=community["service"] + " · " + community["measure_name"])
    y = alt.Y("row:N", title=None)
    x_scale = alt.Scale(domain=[0, 100])
    base = alt.Chart(community)
    layers = [base.mark_bar(opacity=0.7).encode(
        x=alt.X("reliable_improvement_rate:Q", title="% reliably improved", scale=x_scale), y=y,
        tooltip=["service:N", "measure_name:N", "finished:Q", "reliable_improvement_rate:Q"])]
    if "reliable_improvement_rate_ci_low" in community.columns:
        layers.append(base.mark_rule().encode(x="reliable_improvement_rate_ci_low:Q",
                                              x2="reliable_improvement_rate_ci_high:Q", y=y))
    paired = alt.layer(*layers).properties(width=WIDTH, height=_height(community["row"], 18),
                                           title="Community and VCSE outcome measures: reliable improvement")
    charts.append(_chart("outcomes_paired_measures", "Paired outcome measures in other services",
                         _spec(paired, community, "reliable_improvement_rate"), "outcomes_by_group",
                         _rows(community.drop(columns=["service", "measure_name", "row"])),
                         caption="First and latest valid score of the same measure within a referral; reliable "
                                 "improvement is a change of at least the measure's reliable-change amount."))
    return charts


# --- pathways --------------------------------------------------------------------------------

def pathway_charts(tables: Tables) -> list[Chart]:
    table = tables["pathways"]
    frame = _frame(table)
    rank = {name: rank for name, rank in codes()["setting_rank"].items()}
    flows = [sankey.Flow(r.from_setting, r.to_setting, r.transition, float(r.people))
             for r in frame.itertuples() if pd.notna(r.people)]
    nodes, bands = sankey.layout(flows, rank)
    flow_spec = (sankey.vega_spec(nodes, bands, settings()["settings"], settings()["transitions"]) if bands
                 else _message(ALL_SUPPRESSED if not frame.empty else NOTHING))
    frame["move"] = (_labels(frame["from_setting"], "settings") + " → " + _labels(frame["to_setting"], "settings")
                     + " (" + _labels(frame["transition"], "transitions") + ")")
    frame["kind"] = _labels(frame["transition"], "transitions")
    seen = (alt.Chart(frame, title="Share of moves where the receiving service saw the person")
            .mark_bar().encode(x=alt.X("pct_seen:Q", title="% seen", scale=alt.Scale(domain=[0, 100])),
                               y=alt.Y("move:N", sort="-x", title=None),
                               color=alt.Color("kind:N", title="Move", legend=LEGEND),
                               tooltip=["move:N", "people:Q", "pct_seen:Q", "median_days_between:Q"])
            .properties(width=WIDTH, height=_height(frame["move"], 16)))
    return [_chart("pathways_flow", "Moves between settings", flow_spec, "pathways", table,
                   mode="vega" if bands else "vega-lite",
                   caption="Left: the setting a person was referred from (or their previous service); right: the "
                           "setting they were referred to. Band width: people making that move (published, rounded; "
                           "suppressed moves are not drawn)."),
            _chart("pathways_seen", "Seen after the move", _spec(seen, frame, "pct_seen"), "pathways", table)]


# --- social prescribing ---------------------------------------------------------------------

def social_prescribing_charts(tables: Tables) -> list[Chart]:
    needs_table, wellbeing_table = tables["social_prescribing_needs"], tables["social_prescribing_wellbeing"]
    needs = _frame(needs_table)
    needs = needs[needs["group_dimension"] == "all"].assign(need=lambda f: _labels(f["need_domain"], "need_domains"))
    need_chart = (alt.Chart(needs, title="Referrals to VCSE services by need")
                  .mark_bar().encode(x=alt.X("referrals:Q", title="Referrals (published, rounded)"),
                                     y=alt.Y("need:N", sort="-x", title=None),
                                     color=alt.Color("pct_seen:Q", title="% seen", scale=alt.Scale(domain=[0, 100])),
                                     tooltip=["need:N", "referrals:Q", "people:Q", "seen:Q", "pct_seen:Q"])
                  .properties(width=WIDTH, height=_height(needs["need"], 20)))
    wellbeing = _frame(wellbeing_table)
    overall = wellbeing[wellbeing["group_dimension"] == "all"].assign(
        measure_name=lambda f: _labels(f["measure"], "measures"))
    long = overall.melt(id_vars=["measure_name", "paired", "pct_improved"], value_vars=["mean_first", "mean_last"],
                        var_name="when", value_name="mean")
    long["when"] = long["when"].map({"mean_first": "First score", "mean_last": "Latest score"})
    y = alt.Y("measure_name:N", title=None)
    dumbbell = alt.layer(
        alt.Chart(long).mark_line(color="#999").encode(x="mean:Q", y=y, detail="measure_name:N"),
        alt.Chart(long).mark_point(filled=True, size=80).encode(
            x=alt.X("mean:Q", title="Mean score"), y=y, color=alt.Color("when:N", title=None),
            tooltip=["measure_name:N", "when:N", "mean:Q", "paired:Q", "pct_improved:Q"]),
    ).properties(width=WIDTH, height=_height(long["measure_name"], 24), title="Wellbeing scores: first and latest (mean)")
    return [_chart("sp_needs", "Needs", _spec(need_chart, needs, "referrals"), "social_prescribing_needs",
                   _rows(needs.drop(columns=["need"]))),
            _chart("sp_wellbeing", "Wellbeing change", _spec(dumbbell, long, "mean"), "social_prescribing_wellbeing",
                   wellbeing_table,
                   caption="People with a first and a latest score of the same measure in one VCSE referral. "
                           "SWEMWBS is shown as the metric score. " + _better(overall["measure"]))]


def _better(measures: pd.Series) -> str:
    """Which way is better for the measures shown (code lists), said once."""
    lower = sorted({label("measures", m) for m in measures if codes()["measures"].get(m, {}).get("better") == "lower"})
    if not lower:
        return "Higher is better on every measure shown."
    return f"Higher is better, except {', '.join(lower)} (lower is better)."


# --- equality --------------------------------------------------------------------------------

def _by_group(value: str, colour: str, x_title: str, domain: list[str]) -> Callable[[pd.DataFrame], alt.TopLevelMixin]:
    """Bars per group, one colour per `colour` value, the same colours in every dimension's chart."""
    def draw(part: pd.DataFrame) -> alt.TopLevelMixin:
        rows = _dimension_rows(part)
        return (alt.Chart(rows).mark_bar().encode(
            x=alt.X(f"{value}:Q", title=x_title, scale=alt.Scale(domain=[0, 100])),
            y=alt.Y("group:N", title=None),
            color=alt.Color(f"{colour}:N", title=None, legend=LEGEND, scale=alt.Scale(domain=domain)),
            yOffset=alt.YOffset(f"{colour}:N"),
            tooltip=["dimension:N", "group:N", f"{colour}:N", f"{value}:Q"])
            .properties(width=WIDTH, height=max(60, 10 * len(rows[["group", colour]].drop_duplicates())
                                                + 8 * rows["group"].nunique())))
    return draw


def equality_charts(tables: Tables) -> list[Chart]:
    activity = _frame(tables["activity_by_group"])
    activity["setting_name"] = _labels(activity["setting"], "settings")
    waits = _frame(tables["waits_by_group"])
    waits["standard"] = _standards(waits)
    dna = activity.groupby(["group_dimension", "group_value", "setting_name"], as_index=False)["dna_rate"].mean()
    return [*_per_dimension(dna, "equality_dna", "Did-not-attend rate", _by_group("dna_rate", "setting_name",
                                                                                  "% of appointments DNA",
                                                                                  sorted(dna["setting_name"].unique())),
                            "dna_rate", "activity_by_group", activity.drop(columns=["setting_name"]),
                            caption="Where a setting has several service types the bar is the mean of their "
                                    "published rates."),
            *_per_dimension(waits, "equality_waits", "Waits within standard",
                            _by_group("pct_within_standard", "standard", "% within standard",
                                      sorted(waits["standard"].unique())),
                            "pct_within_standard", "waits_by_group", waits.drop(columns=["standard"]),
                            caption="The whole period, against each service's access standard.")]


# --- data quality ----------------------------------------------------------------------------

def data_quality_charts(tables: Tables) -> list[Chart]:
    staging_table = tables["data_quality_staging"]
    staging = _frame(staging_table)
    fates = ["rows_staged", "rows_quarantined", "rows_superseded"]
    rows = (complete_sum(staging, ["source"], fates).melt(id_vars="source", var_name="fate", value_name="rows")
            if not staging.empty else pd.DataFrame(columns=["source", "fate", "rows"]))
    rows["fate"] = _labels(rows["fate"], "row_fates")
    rows["source_name"] = _labels(rows["source"], "sources")
    fate_chart = (alt.Chart(rows, title="What happened to every row that arrived, by source")
                  .mark_bar().encode(x=alt.X("rows:Q", title="Rows", stack="normalize", axis=alt.Axis(format="%")),
                                     y=alt.Y("source_name:N", title=None), color=alt.Color("fate:N", title=None,
                                                                                          legend=LEGEND),
                                     tooltip=["source_name:N", "fate:N", alt.Tooltip("rows:Q", format=",")])
                  .properties(width=WIDTH, height=_height(rows["source_name"], 26)))
    quarantine_table = tables["data_quality_quarantine"]
    quarantine = _frame(quarantine_table)
    quarantine = quarantine.assign(reason=_labels(quarantine["reason_code"], "quarantine_reasons"),
                                   source_name=_labels(quarantine["source"], "sources"))
    reasons = (alt.Chart(quarantine, title="Quarantined rows by reason")
               .mark_bar().encode(x=alt.X("sum(rows):Q", title="Rows"), y=alt.Y("reason:N", sort="-x", title=None),
                                  color=alt.Color("source_name:N", title="Source", legend=LEGEND),
                                  tooltip=["source_name:N", "table_name:N", "reason:N", "rows:Q"])
               .properties(width=WIDTH, height=_height(quarantine["reason"], 20)))
    linkage_table = tables["data_quality_linkage"]
    linkage = _frame(linkage_table)
    linked = linkage[linkage["measure"].isin(["records_linked_on_nhs_number", "records_linked_probabilistically",
                                              "records_unlinked"])]
    linked = linked.assign(measure_name=_labels(linked["measure"], "linkage_measures"))
    linkage_chart = (alt.Chart(linked, title="Person linkage: how records were linked")
                     .mark_bar().encode(x=alt.X("value:Q", title="Records"), y=alt.Y("measure_name:N", title=None),
                                        tooltip=["measure_name:N", alt.Tooltip("value:Q", format=",")])
                     .properties(width=WIDTH, height=_height(linked["measure_name"], 26)))
    return [_chart("dq_rows", "Rows received, staged and quarantined", _spec(fate_chart, rows, "rows"),
                   "data_quality_staging", staging_table,
                   caption="Each source adds up the published (rounded) cells of its tables, and only when none was "
                           "suppressed."),
            _chart("dq_reasons", "Quarantine reasons", _spec(reasons, quarantine, "rows"), "data_quality_quarantine",
                   quarantine_table),
            _chart("dq_linkage", "Linkage", _spec(linkage_chart, linked, "value"), "data_quality_linkage", linkage_table)]
