"""Make the generated activity consistent with what a correct pipeline can know.

`censor` keeps what happened inside the reporting window: later events are dropped, discharges
and rejections after the window end are not known yet (the referral is still open). `resolve`
drops episodes that would make a GP referral match ambiguous (outputs.md: same person, receiving
organisation, received 0-14 days after the GP's date, each record matched at most once) or tie
with another referral of the person on the same date (the journey order would then depend on
ids). It drops `extra` episodes (synthetic/journeys.py) first; in the rare collision of two
primary ones, the later-numbered one goes.
"""

from __future__ import annotations

import duckdb

import pyarrow as pa
import pyarrow.compute as pc

from .window import Window

__all__ = ["censor", "resolve", "ambiguous_matches", "MATCH_DAYS"]

MATCH_DAYS = 14


def _within(column: pa.ChunkedArray, window: Window) -> pa.ChunkedArray:
    lo, hi = pa.scalar(window.start.astype(object), pa.date32()), pa.scalar(window.end.astype(object), pa.date32())
    return pc.and_(pc.greater_equal(column, lo), pc.less_equal(column, hi))


def _unknown_yet(table: pa.Table, field: str, window: Window, also: tuple[str, ...] = ()) -> pa.Table:
    """Null `field` (and its companions) where it falls after the window."""
    late = pc.fill_null(pc.greater(table[field], pa.scalar(window.end.astype(object), pa.date32())), False)
    for name in (field,) + also:
        column = table[name]
        table = table.set_column(table.schema.get_field_index(name), name,
                                 pc.if_else(late, pa.nulls(len(table), column.type), column))
    return table


def censor(frames: dict[str, pa.Table], window: Window) -> dict[str, pa.Table]:
    dated = {"gp_referrals": "date", "referrals": "received_date", "contacts": "date", "scores": "date",
             "care_plans": "created_date", "coded_events": "date"}
    out = {name: frames[name].filter(_within(frames[name][field], window)) for name, field in dated.items()}
    referrals = _unknown_yet(out["referrals"], "rejected_date", window, ("reject_reason",))
    referrals = _unknown_yet(referrals, "discharge_date", window, ("close_reason",))
    open_vcse = pc.and_(pc.equal(referrals["source"], "vcse"),
                        pc.and_(pc.is_null(referrals["discharge_date"]), pc.is_null(referrals["rejected_date"])))
    out["referrals"] = referrals.set_column(
        referrals.schema.get_field_index("close_reason"), "close_reason",
        pc.if_else(open_vcse, pa.scalar("accepted"), referrals["close_reason"]))
    plans = _unknown_yet(out["care_plans"], "last_update", window)
    plans = _unknown_yet(plans, "status_date", window)
    active = pc.and_(pc.equal(plans["source"], "vcse"), pc.is_null(plans["status_date"]))
    out["care_plans"] = plans.set_column(plans.schema.get_field_index("plan_status"), "plan_status",
                                         pc.if_else(active, pa.scalar("active"), plans["plan_status"]))
    return out


_CONFLICTS = f"""
    SELECT r.ref_no, r.extra AS ref_extra, g.gp_ref_no, g.extra AS gp_extra
    FROM gp_referrals g
    JOIN referrals r ON r.person = g.person AND r.provider_ods = g.target_ods
     AND r.received_date BETWEEN g.date AND g.date + {MATCH_DAYS}
    WHERE r.gp_ref_no <> g.gp_ref_no
"""

_TIES = """
    WITH steps AS (
        SELECT ref_no AS id, -1 AS gp_id, person, received_date AS day, extra FROM referrals
        UNION ALL
        SELECT -1, g.gp_ref_no, g.person, g.date, g.extra FROM gp_referrals g
        WHERE g.gp_ref_no NOT IN (SELECT gp_ref_no FROM referrals)
    ), ranked AS (
        SELECT *, row_number() OVER (PARTITION BY person, day ORDER BY extra, id, gp_id) AS k FROM steps
    )
    SELECT id, gp_id FROM ranked WHERE k > 1
"""


def _query(sql: str, **tables: pa.Table) -> pa.Table:
    con = duckdb.connect()
    try:
        for name, table in tables.items():
            con.register(name, table)
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()


def ambiguous_matches(gp_referrals: pa.Table, referrals: pa.Table) -> pa.Table:
    """Receiving records another GP referral of the same person could be matched to."""
    return _query(_CONFLICTS, gp_referrals=gp_referrals, referrals=referrals)


def _drop(frames: dict[str, pa.Table], ref_nos: set[int], gp_ref_nos: set[int]) -> dict[str, pa.Table]:
    referrals = frames["referrals"]
    # a receiving record goes with the GP referral it came from, and the other way round
    linked = pc.is_in(referrals["ref_no"], pa.array(sorted(ref_nos), pa.int64()))
    gp_ref_nos = gp_ref_nos | set(pc.filter(referrals["gp_ref_no"], linked).to_pylist()) - {-1}
    by_gp = pc.is_in(referrals["gp_ref_no"], pa.array(sorted(gp_ref_nos), pa.int64()))
    ref_nos = ref_nos | set(pc.filter(referrals["ref_no"], by_gp).to_pylist())
    drop_refs, drop_gp = pa.array(sorted(ref_nos), pa.int64()), pa.array(sorted(gp_ref_nos), pa.int64())
    out = dict(frames)
    for name in ("referrals", "contacts", "scores", "care_plans"):
        out[name] = frames[name].filter(pc.invert(pc.is_in(frames[name]["ref_no"], drop_refs)))
    gp_referrals = frames["gp_referrals"]
    out["gp_referrals"] = gp_referrals.filter(pc.invert(pc.is_in(gp_referrals["gp_ref_no"], drop_gp)))
    return out


def resolve(frames: dict[str, pa.Table], rounds: int = 5) -> dict[str, pa.Table]:
    """Drop episodes until GP referral matching is unambiguous and no referrals tie."""
    for _ in range(rounds):
        conflicts = ambiguous_matches(frames["gp_referrals"], frames["referrals"]).to_pydict()
        ties = _query(_TIES, gp_referrals=frames["gp_referrals"], referrals=frames["referrals"]).to_pydict()
        pairs = list(zip(conflicts["ref_no"], conflicts["ref_extra"], conflicts["gp_ref_no"], conflicts["gp_extra"]))
        ref_nos = {r for r, r_extra, _, g_extra in pairs if r_extra or not g_extra}
        gp_nos = {g for _, r_extra, g, g_extra in pairs if g_extra and not r_extra}
        ref_nos |= {i for i in ties["id"] if i >= 0}
        gp_nos |= {g for g in ties["gp_id"] if g >= 0}
        if not ref_nos and not gp_nos:
            break
        frames = _drop(frames, ref_nos, gp_nos)
    return frames


