"""Chart builders: published tables in, Vega-Lite / Vega specs out (pure functions, no I/O).

Every figure is a published value: suppressed values stay missing (a gap in a line, no bar),
never zero. Where a chart adds published cells up (monthly activity over providers) the caption
says so, since a sum of rounded cells is not a controlled total.
"""

from __future__ import annotations

from collections.abc import Mapping

import altair as alt
import pandas as pd
import pyarrow as pa

from carebridge.core.reference import codes
from carebridge.report import sankey
from carebridge.report.labels import label, settings
from carebridge.report.model import Chart

__all__ = ["activity_charts", "wait_charts", "outcome_charts", "pathway_charts", "social_prescribing_charts",
           "equality_charts", "data_quality_charts"]

WIDTH = 640
LEGEND = alt.Legend(orient="bottom", direction="vertical", labelLimit=420)  # long service names stay readable
Tables = Mapping[str, pa.Table]


def _frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas()


EMPTY = "Nothing to draw: no rows were published for this chart, or every value was suppressed."


def _has_values(frame: pd.DataFrame, column: str) -> bool:
    return column in frame.columns and bool(frame[column].notna().any())


def _labels(values: pd.Series, kind: str) -> pd.Series:
    """Each code of `values` with its name (report.yaml, code lists)."""
    return values.map(lambda code: label(kind, code)).astype(object)


def _spec(chart: alt.TopLevelMixin, frame: pd.DataFrame | None = None, column: str | None = None) -> dict:
    """The chart's spec, or a one-line message where `frame` has no value in `column` to draw
    (an empty Vega-Lite scale would only log warnings and draw empty axes)."""
    if frame is not None and column is not None and not _has_values(frame, column):
        return _message(EMPTY)
    return chart.to_dict()


def _message(text: str) -> dict:
    return (alt.Chart(pd.DataFrame({"text": [text]})).mark_text(align="left", fontSize=13, color="#5c6370")
            .encode(text="text:N").properties(width=WIDTH, height=30, description=text)).to_dict()


def _chart(key: str, title: str, spec: dict, source: str, rows: pa.Table, **kwargs) -> Chart:
    return Chart(key, title, spec, source, rows, empty=spec.get("description") == EMPTY, **kwargs)


def _dimension_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the four equality dimensions (not the `all` totals), with readable names."""
    rows = frame[frame["group_dimension"] != "all"].copy()
    rows["dimension"] = _labels(rows["group_dimension"], "dimensions")
    return rows


# --- activity --------------------------------------------------------------------------------

def activity_charts(tables: Tables) -> list[Chart]:
    table = tables["activity_by_service_month"]
    frame = _frame(table)
    frame["service"] = _labels(frame["service_type"], "service_types")
    monthly = (frame.groupby(["month", "service"], as_index=False)[["referrals", "contacts", "people"]]
               .sum(min_count=1))
    choice = alt.param(name="activity_measure", value="referrals",
                       bind=alt.binding_select(options=["referrals", "contacts", "people"], name="Show "))
    line = (alt.Chart(monthly, title="Activity by service type and month")
            .transform_fold(["referrals", "contacts", "people"], as_=["measure", "value"])
            .transform_filter(alt.datum.measure == choice)
            .mark_line(point=True)
            .encode(x=alt.X("month:O", title="Month"), y=alt.Y("value:Q", title="Count"),
                    color=alt.Color("service:N", title="Service type", legend=LEGEND),
                    tooltip=["month:O", "service:N", "measure:N", alt.Tooltip("value:Q", format=",")])
            .add_params(choice).properties(width=WIDTH, height=300))
    return [_chart("activity_by_month", "Referrals, contacts and people by service type and month", _spec(line, monthly, "referrals"),
                  "activity_by_service_month", table, caption="Each point adds up the published (rounded) cells of every provider of that "
                                 "service type; suppressed cells add nothing, so small services may be undercounted.")]


# --- waits -----------------------------------------------------------------------------------

def _standards(frame: pd.DataFrame) -> pd.Series:
    """The standard each row's wait is measured against, e.g. `TT NHS Talking Therapies: 42 days`."""
    return _labels(frame["service_type"], "service_types") + ": " + frame["standard_days"].astype(str) + " days"


def wait_charts(tables: Tables) -> list[Chart]:
    table = tables["waits_by_service"]
    frame = _frame(table)
    frame["standard"] = _standards(frame)
    frame["measure"] = _labels(frame["wait_measure"], "wait_measures")
    line = alt.Chart().mark_line(point=True).encode(
        x=alt.X("period:O", title="Month the wait ended"),
        y=alt.Y("pct_within_standard:Q", title="% within standard", scale=alt.Scale(domain=[0, 100])),
        tooltip=["standard:N", "measure:N", "period:O", "referrals:Q", "pct_within_standard:Q",
                 "median_wait_days:Q"])
    charts = [line]
    if "target_pct" in frame.columns:  # one horizontal line per panel (the standard's target is a constant)
        charts.append(alt.Chart().mark_rule(strokeDash=[6, 4], color="#bf616a").encode(y="max(target_pct):Q"))
    within = (alt.layer(*charts, data=frame).properties(width=290, height=180)
              .facet(facet=alt.Facet("standard:N", title=None), columns=2)
              .properties(title="Share of waits within the access standard (dashed: national target)"))
    median = (alt.Chart(frame, title="Median wait in days")
              .mark_line(point=True)
              .encode(x=alt.X("period:O", title="Month the wait ended"), y=alt.Y("median_wait_days:Q", title="Days"),
                      color=alt.Color("standard:N", title="Standard", legend=LEGEND),
                      tooltip=["standard:N", "period:O", "referrals:Q", "median_wait_days:Q"])
              .properties(width=WIDTH, height=260))
    return [_chart("waits_within_standard", "Waits against the access standards", _spec(within, frame, "pct_within_standard"), "waits_by_service", table,
                  caption="Talking Therapies: referral to first attended treatment (6 and 18 weeks); early "
                          "intervention in psychosis: first attended contact (2 weeks); core community teams: "
                          "second attended contact (4 weeks). Did-not-attend and cancelled appointments do not "
                          "stop the clock."),
            _chart("waits_median", "Median waits", _spec(median, frame, "median_wait_days"), "waits_by_service", table)]


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


def _panels(frame: pd.DataFrame, by: str, draw, title: str, params=()) -> alt.TopLevelMixin:
    """One panel per value of `by`, stacked (rather than a faceted chart, so each panel is only as
    tall as its own categories: Vega-Lite sizes independent facets by the union of them)."""
    panels = [draw(rows).properties(title=alt.TitleParams(str(value), anchor="start", fontSize=12))
              for value, rows in frame.groupby(by, sort=True)]
    if not panels:
        return alt.Chart.from_dict(_message(EMPTY))
    chart = alt.vconcat(*panels, title=title)
    return chart.add_params(*params) if params else chart


def _rate_by_group_chart(frame: pd.DataFrame, title: str, target: float | None) -> alt.TopLevelMixin:
    """Rate per group with its interval, a panel per dimension; the overall rate and the target
    ride along as columns so every layer shares one data source."""
    rates = _rates_long(frame)
    overall = rates[rates["group_dimension"] == "all"].set_index("rate")["value"]
    groups = _dimension_rows(rates).assign(overall=lambda f: f["rate"].map(overall),
                                           target=lambda f: [target if r == "Recovery" else None for r in f["rate"]])
    groups = groups[groups["value"].notna()]
    choice = alt.param(name="outcome_rate", value="Recovery",
                       bind=alt.binding_select(options=sorted(set(rates["rate"])), name="Rate "))
    y = alt.Y("group_value:N", title=None)
    x_scale = alt.Scale(domain=[0, 100])

    def draw(rows: pd.DataFrame) -> alt.TopLevelMixin:
        base = alt.Chart(rows)
        points = base.mark_point(filled=True, size=60).encode(
            x=alt.X("value:Q", title="% of people who finished treatment", scale=x_scale), y=y,
            tooltip=["dimension:N", "group_value:N", "rate:N", "value:Q", "ci_low:Q", "ci_high:Q", "finished:Q"])
        return (alt.layer(base.mark_rule().encode(x=alt.X("ci_low:Q", scale=x_scale), x2="ci_high:Q", y=y), points,
                          base.mark_rule(color="#5e81ac").encode(x="overall:Q"),
                          base.mark_rule(strokeDash=[6, 4], color="#bf616a").encode(x="target:Q"))
                .transform_filter(alt.datum.rate == choice)
                .properties(width=WIDTH - 160, height=alt.Step(16)))

    return _panels(groups, "dimension", draw, title, params=[choice])


def outcome_charts(tables: Tables) -> list[Chart]:
    table = tables["outcomes_by_group"]
    frame = _frame(table)
    charts = []
    for measure, spec in settings()["outcome_measures"].items():
        rows = frame[frame["measure"] == measure]
        if rows.empty:
            continue
        chart = _rate_by_group_chart(rows, f"{spec['label']}: rates by group (95% confidence intervals)",
                                     spec.get("recovery_target"))
        charts.append(_chart(f"outcomes_{measure.lower()}", spec["label"], _spec(chart, rows, "recovery_rate"), "outcomes_by_group",
                            pa.Table.from_pandas(rows, preserve_index=False),
                            caption="Points: rate per group; lines: 95% Wilson confidence interval; blue line: "
                                    "everyone; dashed red: the 50% recovery standard. Recovery rate = recovered / "
                                    "(finished treatment - not at caseness at the start)."))
    community = frame[(frame["group_dimension"] == "all") & ~frame["measure"].isin(list(settings()["outcome_measures"]))]
    community = community.assign(service=_labels(community["service_type"], "service_types"),
                                 measure_name=_labels(community["measure"], "measures"))
    y = alt.Y("measure_name:N", title=None)
    x_scale = alt.Scale(domain=[0, 100])

    def draw(rows: pd.DataFrame) -> alt.TopLevelMixin:
        base = alt.Chart(rows)
        bar = base.mark_bar(opacity=0.7).encode(
            x=alt.X("reliable_improvement_rate:Q", title="% reliably improved", scale=x_scale),
            y=y, tooltip=["service:N", "measure_name:N", "finished:Q", "reliable_improvement_rate:Q"])
        if "reliable_improvement_rate_ci_low" not in rows.columns:
            return bar.properties(width=WIDTH - 200, height=alt.Step(18))
        interval = base.mark_rule().encode(x="reliable_improvement_rate_ci_low:Q",
                                           x2="reliable_improvement_rate_ci_high:Q", y=y)
        return alt.layer(bar, interval).properties(width=WIDTH - 200, height=alt.Step(18))

    paired = _panels(community, "service", draw, "Community and VCSE outcome measures: reliable improvement")
    charts.append(_chart("outcomes_paired_measures", "Paired outcome measures in other services", _spec(paired, community, "reliable_improvement_rate"), "outcomes_by_group",
                        pa.Table.from_pandas(community.drop(columns=["service", "measure_name"]), preserve_index=False),
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
                 else _message(EMPTY))
    frame["move"] = (_labels(frame["from_setting"], "settings") + " → " + _labels(frame["to_setting"], "settings")
                     + " (" + _labels(frame["transition"], "transitions") + ")")
    seen = (alt.Chart(frame, title="Share of moves where the receiving service saw the person")
            .mark_bar().encode(x=alt.X("pct_seen:Q", title="% seen", scale=alt.Scale(domain=[0, 100])),
                               y=alt.Y("move:N", sort="-x", title=None),
                               color=alt.Color("transition:N", title="Move"),
                               tooltip=["move:N", "people:Q", "pct_seen:Q", "median_days_between:Q"])
            .properties(width=WIDTH - 260, height=alt.Step(16)))
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
    needs = needs[needs["group_dimension"] == "all"]
    need_chart = (alt.Chart(needs, title="Referrals to VCSE services by need")
                  .mark_bar().encode(x=alt.X("referrals:Q", title="Referrals"),
                                     y=alt.Y("need_domain:N", sort="-x", title=None),
                                     color=alt.Color("pct_seen:Q", title="% seen", scale=alt.Scale(domain=[0, 100])),
                                     tooltip=["need_domain:N", "referrals:Q", "people:Q", "seen:Q", "pct_seen:Q"])
                  .properties(width=WIDTH - 200, height=alt.Step(18)))
    wellbeing = _frame(wellbeing_table)
    overall = wellbeing[wellbeing["group_dimension"] == "all"].assign(
        measure_name=lambda f: _labels(f["measure"], "measures"))
    long = overall.melt(id_vars=["measure_name", "paired", "pct_improved"], value_vars=["mean_first", "mean_last"],
                        var_name="when", value_name="mean")
    long["when"] = long["when"].map({"mean_first": "first score", "mean_last": "latest score"})
    y = alt.Y("measure_name:N", title=None)
    dumbbell = alt.layer(
        alt.Chart(long).mark_line(color="#999").encode(x="mean:Q", y=y, detail="measure_name:N"),
        alt.Chart(long).mark_point(filled=True, size=80).encode(
            x=alt.X("mean:Q", title="Mean score"), y=y, color=alt.Color("when:N", title=None),
            tooltip=["measure_name:N", "when:N", "mean:Q", "paired:Q", "pct_improved:Q"]),
    ).properties(width=WIDTH - 200, height=alt.Step(22), title="Wellbeing scores: first and latest (mean)")
    return [_chart("sp_needs", "Needs", _spec(need_chart, needs, "referrals"), "social_prescribing_needs", needs_table),
            _chart("sp_wellbeing", "Wellbeing change", _spec(dumbbell, long, "mean"), "social_prescribing_wellbeing", wellbeing_table,
                  caption="People with a first and a latest score of the same measure in one VCSE referral. "
                          "SWEMWBS is shown as the metric score; higher is better on every measure shown.")]


# --- equality --------------------------------------------------------------------------------

def _by_group(frame: pd.DataFrame, value: str, colour: str, title: str, x_title: str) -> alt.TopLevelMixin:
    rows = _dimension_rows(frame)
    rows = rows[rows[value].notna()]

    def draw(part: pd.DataFrame) -> alt.TopLevelMixin:
        return (alt.Chart(part).mark_bar().encode(
            x=alt.X(f"{value}:Q", title=x_title, scale=alt.Scale(domain=[0, 100])),
            y=alt.Y("group_value:N", title=None), color=alt.Color(f"{colour}:N", title=None, legend=LEGEND),
            yOffset=alt.YOffset(f"{colour}:N"),
            tooltip=["dimension:N", "group_value:N", f"{colour}:N", f"{value}:Q"])
            .properties(width=WIDTH - 200, height=alt.Step(10)))

    return _panels(rows, "dimension", draw, title)


def equality_charts(tables: Tables) -> list[Chart]:
    activity = _frame(tables["activity_by_group"])
    activity["setting_name"] = _labels(activity["setting"], "settings")
    waits = _frame(tables["waits_by_group"])
    waits["standard"] = _standards(waits)
    dna = (activity.groupby(["group_dimension", "group_value", "setting_name"], as_index=False)["dna_rate"].mean())
    return [_chart("equality_dna", "Did-not-attend rate by group", _spec(_by_group(
                dna, "dna_rate", "setting_name", "Did-not-attend rate by group and setting", "% of appointments DNA")),
                "activity_by_group", tables["activity_by_group"],
                caption="Where a setting has several service types the bar is the mean of their published rates."),
            _chart("equality_waits", "Waits within standard by group", _spec(_by_group(
                waits, "pct_within_standard", "standard", "Share of waits within standard by group",
                "% within standard")), "waits_by_group", tables["waits_by_group"])]


# --- data quality ----------------------------------------------------------------------------

def data_quality_charts(tables: Tables) -> list[Chart]:
    staging_table = tables["data_quality_staging"]
    staging = _frame(staging_table)
    rows = (staging.groupby("source", as_index=False)[["rows_staged", "rows_quarantined", "rows_superseded"]]
            .sum(min_count=1)
            .melt(id_vars="source", var_name="fate", value_name="rows"))
    rows["fate"] = rows["fate"].str.removeprefix("rows_")
    fates = (alt.Chart(rows, title="What happened to every row that arrived, by source")
             .mark_bar().encode(x=alt.X("rows:Q", title="Rows", stack="normalize", axis=alt.Axis(format="%")),
                                y=alt.Y("source:N", title=None), color=alt.Color("fate:N", title=None),
                                tooltip=["source:N", "fate:N", alt.Tooltip("rows:Q", format=",")])
             .properties(width=WIDTH - 160, height=alt.Step(24)))
    quarantine_table = tables["data_quality_quarantine"]
    quarantine = _frame(quarantine_table)
    reasons = (alt.Chart(quarantine, title="Quarantined rows by reason")
               .mark_bar().encode(x=alt.X("sum(rows):Q", title="Rows"), y=alt.Y("reason_code:N", sort="-x", title=None),
                                  color=alt.Color("source:N", title="Source"),
                                  tooltip=["source:N", "table_name:N", "reason_code:N", "rows:Q"])
               .properties(width=WIDTH - 200, height=alt.Step(18)))
    linkage_table = tables["data_quality_linkage"]
    linkage = _frame(linkage_table)
    linked = linkage[linkage["measure"].isin(["records_linked_on_nhs_number", "records_linked_probabilistically",
                                              "records_unlinked"])]
    linkage_chart = (alt.Chart(linked, title="Person linkage: how records were linked")
                     .mark_bar().encode(x=alt.X("value:Q", title="Records"), y=alt.Y("measure:N", title=None),
                                        tooltip=["measure:N", alt.Tooltip("value:Q", format=",")])
                     .properties(width=WIDTH - 200, height=alt.Step(22)))
    return [_chart("dq_rows", "Rows received, staged and quarantined", _spec(fates, rows, "rows"), "data_quality_staging", staging_table),
            _chart("dq_reasons", "Quarantine reasons", _spec(reasons, quarantine, "rows"), "data_quality_quarantine", quarantine_table),
            _chart("dq_linkage", "Linkage", _spec(linkage_chart, linked, "value"), "data_quality_linkage", linkage_table)]
