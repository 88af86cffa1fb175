"""Stable person ids: a new month keeps known ids; a merge retires an id into the surviving one."""

import pyarrow as pa

from carebridge.core.ids import person_id_for_nhs_number, person_id_for_record
from carebridge.linkage.stable_ids import assign_ids, lost_ids

NHS_A = "9434765919"
P_A = person_id_for_nhs_number(NHS_A)


def records(*keys):
    """keys: (unique_id, local id) of VCSE records at 8ZZ01."""
    return pa.table({"unique_id": pa.array([k[0] for k in keys], pa.int64()), "source": ["vcse"] * len(keys),
                     "provider_ods": ["8ZZ01"] * len(keys), "local_patient_id": [k[1] for k in keys]})


def clusters(*rows):
    """rows: (unique_id, cluster or None, anchor NHS number or None)."""
    return pa.table({"unique_id": pa.array([r[0] for r in rows], pa.int64()),
                     "cluster": pa.array([r[1] for r in rows], pa.int64()),
                     "anchor_nhs": pa.array([r[2] for r in rows], pa.string()),
                     "match_method": ["probabilistic"] * len(rows), "match_weight": pa.array([None] * len(rows), pa.float64())})


def ids(assignment):
    return {r["local_patient_id"]: r["person_id"] for r in assignment.map.to_pylist()}


def vp(local):
    return person_id_for_record("vcse", "8ZZ01", local)


def test_first_run_ids_come_from_the_nhs_number_or_the_first_record():
    first = assign_ids(records((1, "V1"), (2, "V2"), (3, "V3")), clusters((1, None, NHS_A), (2, 2, None), (3, 2, None)), None, "run1")
    assert ids(first) == {"V1": P_A, "V2": vp("V2"), "V3": vp("V2")}
    assert first.retired.num_rows == 0
    assert set(first.map["first_seen_run"].to_pylist()) == {"run1"}


def test_a_new_month_keeps_every_known_id_and_adds_new_records():
    first = assign_ids(records((1, "V1"), (2, "V2")), clusters((1, 1, None), (2, 2, None)), None, "run1")
    # Next month: a new record V0 sorts first and joins V2's person; unique ids are renumbered.
    second = assign_ids(records((1, "V0"), (2, "V1"), (3, "V2")), clusters((1, 1, None), (2, 2, None), (3, 1, None)),
                        first, "run2")
    assert ids(second) == {"V0": vp("V2"), "V1": vp("V1"), "V2": vp("V2")}
    seen = {r["local_patient_id"]: (r["first_seen_run"], r["last_seen_run"]) for r in second.map.to_pylist()}
    assert seen == {"V0": ("run2", "run2"), "V1": ("run1", "run2"), "V2": ("run1", "run2")}
    assert second.retired.num_rows == 0 and lost_ids(first, second) == []


def test_merge_into_an_nhs_person_retires_the_record_only_id():
    first = assign_ids(records((1, "V1"), (2, "V2")), clusters((1, None, NHS_A), (2, 2, None)), None, "run1")
    second = assign_ids(records((1, "V1"), (2, "V2")), clusters((1, None, NHS_A), (2, None, NHS_A)), first, "run2")
    assert ids(second) == {"V1": P_A, "V2": P_A}
    assert second.retired.to_pylist() == [{"retired_id": vp("V2"), "surviving_id": P_A, "run": "run2",
                                           "reason": "merged_into_nhs_person"}]
    assert lost_ids(first, second) == []


def test_merge_of_two_record_only_people_keeps_the_earlier_id():
    first = assign_ids(records((1, "V1")), clusters((1, 1, None)), None, "run1")
    second = assign_ids(records((1, "V1"), (2, "V2")), clusters((1, 1, None), (2, 2, None)), first, "run2")
    third = assign_ids(records((1, "V1"), (2, "V2")), clusters((1, 1, None), (2, 1, None)), second, "run3")
    assert ids(third) == {"V1": vp("V1"), "V2": vp("V1")}
    assert [(r["retired_id"], r["surviving_id"], r["reason"]) for r in third.retired.to_pylist()] == [
        (vp("V2"), vp("V1"), "merged")]


def test_retired_ids_follow_later_merges_to_the_live_id():
    first = assign_ids(records((1, "V1"), (2, "V2")), clusters((1, 1, None), (2, 1, None)), None, "run1")
    second = assign_ids(records((1, "V1"), (2, "V2"), (3, "V3")), clusters((1, 1, None), (2, 1, None), (3, 3, None)),
                        first, "run2")
    third = assign_ids(records((1, "V1"), (2, "V2"), (3, "V3")),
                       clusters((1, None, NHS_A), (2, None, NHS_A), (3, 3, None)), second, "run3")
    fourth = assign_ids(records((1, "V1"), (2, "V2"), (3, "V3")),
                        clusters((1, None, NHS_A), (2, None, NHS_A), (3, None, NHS_A)), third, "run4")
    retired = {r["retired_id"]: r["surviving_id"] for r in fourth.retired.to_pylist()}
    assert retired == {vp("V1"): P_A, vp("V3"): P_A}
    assert set(ids(fourth).values()) == {P_A}


def test_records_absent_from_a_run_keep_their_id():
    first = assign_ids(records((1, "V1"), (2, "V2")), clusters((1, 1, None), (2, 2, None)), None, "run1")
    second = assign_ids(records((1, "V2")), clusters((1, 1, None)), first, "run2")
    assert ids(second) == {"V1": vp("V1"), "V2": vp("V2")}
    assert {r["local_patient_id"]: r["last_seen_run"] for r in second.map.to_pylist()} == {"V1": "run1", "V2": "run2"}


def test_a_split_keeps_the_id_with_the_larger_part():
    first = assign_ids(records((1, "V1"), (2, "V2"), (3, "V3")), clusters((1, 1, None), (2, 1, None), (3, 1, None)),
                       None, "run1")
    second = assign_ids(records((1, "V1"), (2, "V2"), (3, "V3")), clusters((1, 1, None), (2, 2, None), (3, 2, None)),
                        first, "run2")
    assert ids(second)["V2"] == ids(second)["V3"] == vp("V1")
    # V1 alone: its own id, unless that was ever used (here it was: the shared id was vp("V1")).
    assert ids(second)["V1"] not in {vp("V1")}
    assert second.retired.num_rows == 0 and lost_ids(first, second) == []


def test_ids_computed_in_sql_are_the_ids_of_carebridge_ids():
    import duckdb

    from carebridge.linkage.stable_ids import register_uuid5

    con = duckdb.connect()
    register_uuid5(con)
    names = ["person|nhs|9434765919", "person|local|vcse|8ZZ01|VP00000001", "person|local|gp|Z90001|Zoë’s"]
    got = [row[0] for row in con.sql("SELECT uuid5(n) FROM unnest($names) WITH ORDINALITY AS t(n, i) ORDER BY i",
                                     params={"names": names}).fetchall()]
    assert got == [person_id_for_nhs_number("9434765919"), person_id_for_record("vcse", "8ZZ01", "VP00000001"),
                   person_id_for_record("gp", "Z90001", "Zoë’s")]


def test_an_assignment_survives_the_round_trip_through_the_warehouse(warehouse_url):
    """What the asset writes is what the next run reads back as its previous assignment (DuckDB and PostgreSQL)."""
    from warehouse.db import ensure_schemas, make_engine, read_table, write_table

    first = assign_ids(records((1, "V1"), (2, "V2")), clusters((1, None, NHS_A), (2, 2, None)), None, "run1")
    merged = assign_ids(records((1, "V1"), (2, "V2")), clusters((1, None, NHS_A), (2, None, NHS_A)), first, "run2")
    engine = make_engine(warehouse_url)
    try:
        ensure_schemas(engine)
        write_table(engine, "linkage", "person_id_map", merged.map)
        write_table(engine, "linkage", "person_id_retired", merged.retired)
        back = type(merged)(map=read_table(engine, "linkage", "person_id_map"),
                            retired=read_table(engine, "linkage", "person_id_retired")).normalised()
    finally:
        engine.dispose()
    assert back.map.sort_by("local_patient_id").equals(merged.map.sort_by("local_patient_id"))
    assert back.retired.equals(merged.retired)
    # ... and an empty retired table read back (no rows, possibly untyped columns) still works.
    assert type(merged)(map=back.map, retired=None).normalised().retired.num_rows == 0
