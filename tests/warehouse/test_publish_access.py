"""Place-based outputs: the national access measures per registered population, by area and group,
and the age band on the reference date, on a small warehouse (both engines)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # shared helpers beside this file (pytest runs in importlib mode)
from test_marts_support import build, contact, patient, received, table
from warehouse.db import query
from warehouse.publish import published_margins, published_specs, published_sql, release_constraints


def _system() -> dict:
    """30 people at Riverside MC (Z90001, Riverside PCN and place), 10 at Hilltop (Z90004, Hillside),
    2 at a practice the reference data does not know. 12 of Riverside's see a CMHT twice (community
    mental health access), 3 once (not counted); 6 Hilltop people are referred to EIP, 5 seen within
    two weeks. Everything happens in January to March 2025."""
    views: dict[str, list] = {"v_patient": [], "v_service_request": [], "v_encounter": []}
    people = ([(f"r{i}", "Z90001") for i in range(30)] + [(f"h{i}", "Z90004") for i in range(10)]
              + [(f"u{i}", "Z99999") for i in range(2)])
    for n, (p, gp) in enumerate(people):
        views["v_patient"].append(patient(p, birth="1990-06-15" if n % 2 else "2010-01-01", gp=gp))
    for i in range(15):
        p, sid = f"r{i}", f"c{i}"
        views["v_service_request"].append(received(sid, p, "2025-01-02", "CMHT", source="A1"))
        views["v_encounter"].append(contact(f"{sid}-a", p, sid, "2025-01-10", "CMHT"))
        if i < 12:
            views["v_encounter"].append(contact(f"{sid}-b", p, sid, "2025-02-10", "CMHT"))
    for i in range(6):
        p, sid = f"h{i}", f"e{i}"
        views["v_service_request"].append(received(sid, p, "2025-03-01", "EIP", source="A1"))
        views["v_encounter"].append(contact(f"{sid}-a", p, sid, "2025-03-10" if i < 5 else "2025-03-25", "EIP"))
    return views


def test_age_band_is_filled_for_everyone_on_the_reference_date(engine):
    build(engine, **_system())
    people = query(engine, "SELECT age_band, age_reference_date FROM analytics.person").to_pylist()
    assert len(people) == 42
    # The latest month with activity is March 2025: everyone's age on 31 March 2025.
    assert {str(p["age_reference_date"]) for p in people} == {"2025-03-31"}
    assert sorted({p["age_band"] for p in people}) == ["0-17", "26-35"]      # born 2010 (15) and 1990 (34)
    referrals = query(engine, "SELECT age_at_referral, age_band_at_referral FROM analytics.referral").to_pylist()
    assert {(r["age_at_referral"], r["age_band_at_referral"]) for r in referrals} == {(34, "26-35"), (15, "0-17")}


def test_access_events_follow_the_national_definitions(engine):
    build(engine, **_system())
    counts = {r["measure"]: r["n"] for r in query(
        engine, "SELECT measure, COUNT(*) AS n FROM analytics.access_event GROUP BY measure").to_pylist()}
    assert counts == {"community_mental_health_access": 12, "eip_started_treatment": 6,
                      "eip_started_within_2_weeks": 5}
    (period,) = query(engine, "SELECT DISTINCT period_start, period_end FROM analytics.access_event").to_pylist()
    assert (str(period["period_start"]), str(period["period_end"])) == ("2024-04-01", "2025-03-31")


def test_access_by_place_nests_practices_in_pcns_in_places_and_adds_up(engine):
    build(engine, publish=True, **_system())
    raw = query(engine, published_sql("access_by_place")).to_pylist()
    cmh = {(r["geography_level"], r["geography_code"]): r for r in raw if r["measure"] == "community_mental_health_access"}
    assert set(cmh) == {("all", "all"), ("place", "QZZ01"), ("place", "QZZ02"), ("place", "unknown"),
                        ("pcn", "U90001"), ("pcn", "U90002"), ("pcn", "unknown"),
                        ("practice", "Z90001"), ("practice", "Z90004"), ("practice", "unknown")}
    assert [cmh[("practice", "Z90001")][c] for c in ("parent_code", "registered_population", "numerator")] == [
        "U90001", 30, 12]
    assert cmh[("pcn", "U90001")]["parent_code"] == "QZZ01" and cmh[("place", "QZZ01")]["parent_code"] == "all"
    assert cmh[("place", "QZZ01")]["geography_name"] == "Riverside Place"
    # Every declared identity (each level adds up to its parent; the same population for every
    # measure; the `all` row equals access_by_group's) holds on the unrounded figures.
    specs = published_specs()
    rows = {name: query(engine, published_sql(name)).to_pylist() for name in ("access_by_place", "access_by_group")}
    constraints = release_constraints(rows, {n: specs[n] for n in rows}, published_margins())
    assert len(constraints) > 50
    for k in constraints:
        assert sum(rows[t][i][c] for t, i, c in k.left) == sum(rows[t][i][c] for t, i, c in k.right), k.name


def test_access_rates_per_100000_come_from_the_published_counts(engine):
    build(engine, publish=True, **_system())
    published = {(r["measure"], r["geography_level"], r["geography_code"]): r
                 for r in table(engine, "published", "access_by_place")}
    overall = published[("community_mental_health_access", "all", "all")]
    # 12 of 42 registered: published as 10 of 40, so 25,000.0 per 100,000 (never 28,571.4 from 12 / 42).
    assert (overall["registered_population"], overall["numerator"], overall["rate_per_100000"]) == (40, 10, 25000.0)
    riverside = published[("community_mental_health_access", "practice", "Z90001")]
    assert (riverside["registered_population"], riverside["numerator"]) == (30, 10)
    # The unknown practice (2 people) is suppressed, and with it Hilltop's population in every
    # measure (else 42 - 30 - 10 would give it away), so every level has two suppressed areas.
    for measure in ("community_mental_health_access", "eip_started_treatment"):
        assert published[(measure, "practice", "unknown")]["registered_population"] is None
        assert published[(measure, "practice", "Z90004")]["registered_population"] is None
    eip = published[("eip_started_treatment", "all", "all")]
    assert eip["numerator"] == 5 and eip["rate_per_100000"] == 12500.0          # 6 -> 5 of 40
    by_group = {(r["measure"], r["group_dimension"], r["group_value"]): r
                for r in table(engine, "published", "access_by_group")}
    assert by_group[("community_mental_health_access", "all", "all")]["rate_per_100000"] == 25000.0
    assert by_group[("community_mental_health_access", "age_band", "26-35")]["registered_population"] == 20
