"""Decisions on scored pairs: links, conflicting NHS numbers, ambiguity and chaining (hand-made pairs)."""

import pyarrow as pa

from carebridge.linkage.model import Thresholds
from carebridge.linkage.resolve import resolve

T = Thresholds(link=6, ambiguity_margin=3, chain_veto=-10, nhs_conflict=12, nhs_split=-10)
NHS_A, NHS_B = "9434765919", "9000000009"


def records(*rows):
    """rows: (unique_id, nhs_number or None, priority)."""
    return pa.table({
        "unique_id": pa.array([r[0] for r in rows], pa.int64()),
        "nhs_number": pa.array([r[1] for r in rows], pa.string()),
        "trusted": [r[1] is not None for r in rows],
        "priority": pa.array([r[2] for r in rows], pa.int64()),
        "reporting_month": ["2025-04"] * len(rows)})


def pairs(*rows, **weights):
    """rows: (l, r, match_weight); keyword `w_<column>=[...]` adds per-comparison weights."""
    table = {"unique_id_l": pa.array([r[0] for r in rows], pa.int64()),
             "unique_id_r": pa.array([r[1] for r in rows], pa.int64()),
             "match_weight": pa.array([float(r[2]) for r in rows], pa.float64()),
             "match_probability": pa.array([0.5] * len(rows), pa.float64())}
    table.update({k: pa.array(v, pa.float64()) for k, v in weights.items()})
    return pa.table(table)


def by_record(resolution):
    return {r["unique_id"]: r for r in resolution.clusters.to_pylist()}


def kinds(resolution):
    return sorted((r["kind"], r["unique_id_l"], r["unique_id_r"]) for r in resolution.reviews.to_pylist())


def test_record_without_nhs_number_joins_the_person_it_matches():
    result = resolve(records((1, NHS_A, 0), (2, None, 3)), pairs((1, 2, 20)), T)
    assert by_record(result)[2]["anchor_nhs"] == NHS_A
    assert by_record(result)[2]["match_method"] == "probabilistic" and by_record(result)[2]["match_weight"] == 20
    assert kinds(result) == []


def test_weak_pair_does_not_link():
    result = resolve(records((1, NHS_A, 0), (2, None, 3)), pairs((1, 2, 5.9)), T)
    assert by_record(result)[2]["anchor_nhs"] is None and by_record(result)[2]["match_method"] == "unlinked"


def test_two_valid_nhs_numbers_that_match_strongly_are_reviewed_not_merged():
    result = resolve(records((1, NHS_A, 0), (2, NHS_B, 1)), pairs((1, 2, 30)), T)
    assert by_record(result)[1]["anchor_nhs"] == NHS_A and by_record(result)[2]["anchor_nhs"] == NHS_B
    assert kinds(result) == [("nhs_number_conflict", 1, 2)]


def test_record_clearly_someone_else_under_one_nhs_number_is_held_apart_and_reviewed():
    # Evidence = match weight less the prior (-20): record 3 at -35 has evidence -15 <= -10.
    result = resolve(records((1, NHS_A, 0), (2, NHS_A, 1), (3, NHS_A, 3)), pairs((1, 2, 10), (1, 3, -35)), T, prior=-20)
    clusters = by_record(result)
    assert clusters[1]["anchor_nhs"] == clusters[2]["anchor_nhs"] == NHS_A
    assert clusters[3]["anchor_nhs"] is None and clusters[3]["cluster"] == 3
    assert kinds(result) == [("shared_nhs_number", 1, 3)]


def test_disagreement_explained_by_the_prior_is_not_a_split():
    result = resolve(records((1, NHS_A, 0), (2, NHS_A, 1)), pairs((1, 2, -25)), T, prior=-20)
    assert by_record(result)[2]["anchor_nhs"] == NHS_A and kinds(result) == []


def test_record_matching_two_people_about_equally_is_reviewed_and_joins_neither():
    result = resolve(records((1, NHS_A, 0), (2, NHS_B, 0), (3, None, 3)), pairs((1, 3, 12), (2, 3, 10)), T)
    assert by_record(result)[3]["anchor_nhs"] is None
    assert kinds(result) == [("ambiguous_match", 3, 1)]  # the record and the best candidate's main record


def test_clear_winner_between_two_people_links():
    result = resolve(records((1, NHS_A, 0), (2, NHS_B, 0), (3, None, 3)), pairs((1, 3, 20), (2, 3, 7)), T)
    assert by_record(result)[3]["anchor_nhs"] == NHS_A and kinds(result) == []


def test_person_scores_with_the_best_weight_of_each_comparison_across_its_records():
    # Record 3 (no NHS number) against person A: A's trust record (1, no names) agrees on birth date;
    # A's GP record (2) has another name. Best per comparison: birth date +15, name -9, prior -20.
    result = resolve(records((1, NHS_A, 1), (2, NHS_A, 0), (3, None, 3)),
                     pairs((1, 3, 8), (2, 3, -6), w_birth_date=[15.0, 15.0], w_given_name=[None, -9.0]), T, prior=-20)
    assert by_record(result)[3]["anchor_nhs"] is None
    # Agreeing with the GP record's name, and with the trust record's postcode: 15 + 9 + 5 - 20 = 9.
    result = resolve(records((1, NHS_A, 1), (2, NHS_A, 0), (3, None, 3)),
                     pairs((1, 3, 0), (2, 3, 9), w_birth_date=[15.0, 15.0], w_given_name=[None, 9.0],
                           w_postcode=[5.0, -4.0]), T, prior=-20)
    assert by_record(result)[3]["anchor_nhs"] == NHS_A and by_record(result)[3]["match_weight"] == 9.0


def test_records_without_nhs_numbers_link_to_each_other_and_follow_their_person():
    result = resolve(records((1, NHS_A, 0), (2, None, 3), (3, None, 1)), pairs((1, 2, 20), (2, 3, 15)), T)
    clusters = by_record(result)
    assert clusters[2]["anchor_nhs"] == clusters[3]["anchor_nhs"] == NHS_A
    assert clusters[3]["match_method"] == "probabilistic"


def test_records_without_any_nhs_number_form_a_person_of_their_own():
    result = resolve(records((5, None, 3), (7, None, 1), (9, None, 2)), pairs((5, 7, 15), (7, 9, 8)), T)
    assert {r["cluster"] for r in result.clusters.to_pylist()} == {5}
    assert {r["match_method"] for r in result.clusters.to_pylist()} == {"probabilistic"}


def test_no_chaining_into_a_person_the_record_contradicts():
    # 3 links to 2, 2 links to person A, but 3 itself scores -15 against A: 3 stays out.
    result = resolve(records((1, NHS_A, 0), (2, None, 3), (3, None, 1)),
                     pairs((1, 2, 20), (2, 3, 7), (1, 3, -15)), T)
    clusters = by_record(result)
    assert clusters[2]["anchor_nhs"] == NHS_A
    assert clusters[3]["anchor_nhs"] is None and clusters[3]["match_method"] == "unlinked"


def test_component_reaching_two_people_is_reviewed_and_not_merged():
    result = resolve(records((1, NHS_A, 0), (2, NHS_B, 0), (3, None, 3), (4, None, 3), (5, None, 1)),
                     pairs((1, 3, 20), (2, 4, 20), (3, 5, 9), (4, 5, 9)), T)
    clusters = by_record(result)
    assert clusters[3]["anchor_nhs"] == NHS_A and clusters[4]["anchor_nhs"] == NHS_B
    assert clusters[5]["anchor_nhs"] is None and clusters[5]["match_method"] == "unlinked"
    assert clusters[5]["cluster"] not in {c["cluster"] for k, c in clusters.items() if k != 5}
    assert [k for k in kinds(result)] == [("cluster_conflict", 3, None), ("cluster_conflict", 4, None),
                                          ("cluster_conflict", 5, None)]


def test_two_records_joining_one_person_but_contradicting_each_other_do_not_both_stay():
    # 2 and 3 each match person A; against each other they score -15: the weaker link (3) stands alone.
    result = resolve(records((1, NHS_A, 0), (2, None, 0), (3, None, 3)), pairs((1, 2, 20), (1, 3, 8), (2, 3, -15)), T)
    clusters = by_record(result)
    assert clusters[2]["anchor_nhs"] == NHS_A
    assert clusters[3]["anchor_nhs"] is None and clusters[3]["match_method"] == "unlinked"


def test_connected_components_follow_long_chains():
    import duckdb

    from carebridge.linkage.resolve import connected_components

    con = duckdb.connect()
    con.execute("CREATE TABLE n AS SELECT * FROM (VALUES (4), (3), (2), (1), (7), (8), (9)) t(node)")
    con.execute("CREATE TABLE e AS SELECT * FROM (VALUES (4, 3), (3, 2), (2, 1), (8, 7)) t(a, b)")
    connected_components(con, "n", "e", "cc")
    assert dict(con.sql("SELECT node, component FROM cc").fetchall()) == {1: 1, 2: 1, 3: 1, 4: 1, 7: 7, 8: 7, 9: 9}


CONTRA = ("w_given_name < 0 AND w_birth_date IS NOT NULL",)


def test_twins_do_not_chain_through_a_record_without_names():
    # 1 and 2 (no NHS numbers) share a birth date and an address but not a given name: a
    # contradiction, whatever their weight; 3 (no names) links to each. 1, the record with the
    # smallest id, labels the component: after it is put out it must not share that label.
    result = resolve(records((1, None, 0), (2, None, 0), (3, None, 1)),
                     pairs((1, 2, 11), (1, 3, 9), (2, 3, 10), w_given_name=[-1.0, None, None],
                           w_birth_date=[9.0, 13.0, 13.0]), T, contradictions=CONTRA)
    clusters = by_record(result)
    assert clusters[2]["cluster"] == clusters[3]["cluster"]
    assert clusters[1]["match_method"] == "unlinked" and clusters[1]["cluster"] != clusters[2]["cluster"]


def test_record_brought_into_an_nhs_group_by_a_typo_and_agreeing_with_none_of_it_is_held():
    # 3 carries NHS_A but contradicts 2 and was never compared with the main record 1 (not blocked together).
    result = resolve(records((1, NHS_A, 0), (2, NHS_A, 1), (3, NHS_A, 0)), pairs((1, 2, 10), (2, 3, -30)), T, prior=-10)
    clusters = by_record(result)
    assert clusters[1]["anchor_nhs"] == clusters[2]["anchor_nhs"] == NHS_A
    assert clusters[3]["anchor_nhs"] is None and ("shared_nhs_number", 1, 3) in kinds(result)


def test_nhs_number_typo_weighs_the_evidence_not_the_posterior():
    # Two valid numbers two digits apart: linked when the demographics alone give at least `nhs_typo`
    # bits, whatever the prior (the population's size).
    typo = "9434755919"
    t = Thresholds(link=6, ambiguity_margin=3, chain_veto=-10, nhs_conflict=12, nhs_split=-10, nhs_typo=10)
    for prior, linked in ((-16.0, True), (-30.0, True)):
        result = resolve(records((1, NHS_A, 0), (2, typo, 1)), pairs((1, 2, prior + 12)), t, prior=prior)
        assert (by_record(result)[1]["anchor_nhs"] == by_record(result)[2]["anchor_nhs"]) is linked
    result = resolve(records((1, NHS_A, 0), (2, typo, 1)), pairs((1, 2, -16 + 8)), t, prior=-16)
    assert by_record(result)[1]["anchor_nhs"] != by_record(result)[2]["anchor_nhs"]


def named(*rows):
    """rows: (unique_id, nhs_number, priority, given, family, birth date as ISO text)."""
    import datetime

    table = records(*[r[:3] for r in rows])
    return (table.append_column("given_name", pa.array([r[3] for r in rows], pa.string()))
            .append_column("family_name", pa.array([r[4] for r in rows], pa.string()))
            .append_column("birth_date", pa.array([datetime.date.fromisoformat(r[5]) for r in rows], pa.date32())))


def test_lone_record_under_another_number_that_matches_on_names_and_birth_date_joins_that_person():
    # 3 is the only record of NHS_B and agrees with person A's GP record on both names and the birth
    # date: a borrowed number. It moves to person A (reviewed); its twin 4 (another given name) stays.
    rows = named((1, NHS_A, 0, "ANNA", "SMITH", "1980-01-02"), (2, NHS_A, 1, None, None, "1980-01-02"),
                 (3, NHS_B, 3, "ANNA", "SMITH", "1980-01-02"), (4, "9000000017", 3, "ELLA", "SMITH", "1980-01-02"))
    result = resolve(rows, pairs((1, 2, 10), (1, 3, 25), (2, 3, 10), (1, 4, 14), (2, 4, 10)), T)
    clusters = by_record(result)
    assert clusters[3]["anchor_nhs"] == NHS_A and clusters[3]["match_method"] == "probabilistic"
    assert clusters[4]["anchor_nhs"] == "9000000017"
    assert ("nhs_number_borrowed", 1, 3) in kinds(result)


def test_two_numbers_matching_strongly_without_names_stay_apart():
    # No names to tell one person from twins: kept apart and reviewed, as before.
    rows = named((1, NHS_A, 0, None, None, "1980-01-02"), (2, NHS_B, 1, None, None, "1980-01-02"))
    result = resolve(rows, pairs((1, 2, 30)), T)
    assert by_record(result)[2]["anchor_nhs"] == NHS_B and kinds(result) == [("nhs_number_conflict", 1, 2)]


def test_record_fitting_another_numbers_person_better_on_personal_comparisons_is_held():
    # 2 (no names) shares NHS_A with 1 but has the sex and ethnic category of 3 (NHS_B, a twin at
    # the same address and birth date): held from A's group and linked to B. Without `personal`
    # the NHS number decides, as before.
    rows = records((1, NHS_A, 0), (2, NHS_A, 1), (3, NHS_B, 0))
    scored = pairs((1, 2, 6), (1, 3, -20), (2, 3, 11), w_birth_date=[10.5, -15.5, 9.3], w_gender=[-2.5, -2.5, 0.9],
                   w_ethnic_category=[-2.0, -2.0, 0.8])
    result = resolve(rows, scored, T, personal=("gender", "ethnic_category"))
    clusters = by_record(result)
    assert clusters[2]["anchor_nhs"] == NHS_B and ("shared_nhs_number", 1, 2) in kinds(result)
    assert by_record(resolve(rows, scored, T))[2]["anchor_nhs"] == NHS_A


def test_of_two_records_of_one_source_that_contradict_the_group_keeps_the_one_it_agrees_with_more():
    # 1 and 2 (both GP, priority 0) share NHS_A and contradict (evidence -15); the trust record 3
    # agrees with both, more strongly with 2: 2 is the main record and 1 is held (before: the
    # smaller id won).
    result = resolve(records((1, NHS_A, 0), (2, NHS_A, 0), (3, NHS_A, 1)), pairs((1, 2, -35), (1, 3, -15), (2, 3, -8)),
                     T, prior=-20)
    clusters = by_record(result)
    assert clusters[2]["anchor_nhs"] == clusters[3]["anchor_nhs"] == NHS_A
    assert clusters[1]["anchor_nhs"] is None and ("shared_nhs_number", 1, 2) in kinds(result)


def test_another_given_name_is_a_level_not_the_sign_of_its_weight():
    # The shipped contradictions: Michael / Mia (a loose similarity EM may weigh in favour) born the
    # same day contradict; Kar / Karen (one starts the other, whatever its weight) do not.
    from carebridge.linkage.model import default_model

    contra = default_model().contradictions
    for given, weight, linked in ((("MICHAEL", "MIA"), 0.4, False), (("KAR", "KAREN"), -1.0, True)):
        rows = named((1, None, 0, given[0], "BRONTE", "1976-02-24"), (2, None, 3, given[1], "BRONTE", "1976-02-24"))
        rows = rows.append_column("gender", pa.array(["male", "male"]))
        scored = pairs((1, 2, 15), w_given_name=[weight], w_family_name=[6.6], w_birth_date=[12.7])
        clusters = by_record(resolve(rows, scored, T, contradictions=contra))
        assert (clusters[1]["cluster"] == clusters[2]["cluster"]) is linked, given
