"""Pairwise precision and recall over every pair, counted from group sizes, on hand-checked examples."""

import pyarrow as pa
import pytest

from carebridge.linkage.quality import pairwise_quality, quality_report


def _tables(rows):
    """rows: (local id, predicted person, truth person, trusted)."""
    keys = {"source": ["gp"] * len(rows), "provider_ods": ["Z90001"] * len(rows)}
    links = pa.table({**keys, "local_patient_id": [r[0] for r in rows], "person_id": [r[1] for r in rows]})
    truth = pa.table({**keys, "local_id": [r[0] for r in rows], "person_id": [r[2] for r in rows]})
    trusted = pa.table({**keys, "local_patient_id": [r[0] for r in rows], "trusted": [r[3] for r in rows]})
    return links, truth, trusted


ROWS = [("a", "P1", "T1", True), ("b", "P1", "T1", True), ("c", "P2", "T1", False),
        ("d", "P2", "T2", True), ("e", "P3", "T2", False)]


def test_every_pair_counts_nhs_numbered_ones_included():
    # Truth: {a, b, c} one person, {d, e} another. Predicted: {a, b}, {c, d}, {e}.
    #   true pairs: a-b, a-c, b-c, d-e -> 4; predicted pairs: a-b, c-d -> 2; true positives: a-b.
    quality = pairwise_quality(*_tables(ROWS))
    assert (quality.true_pairs, quality.predicted_pairs, quality.true_positive_pairs) == (4, 2, 1)
    assert quality.precision == 0.5 and quality.recall == 0.25 and quality.untrusted_records == 2


def test_report_splits_nhs_number_pairs_probabilistic_pairs_fault_kinds_and_reviews():
    faults = pa.table({"kind": ["name_swap", "twin"], "source": ["gp", "gp"], "provider_ods": ["Z90001"] * 2,
                       "local_id": ["c", "d"]})
    reviews = pa.table({"kind": ["ambiguous_match"], "source_l": ["gp"], "provider_ods_l": ["Z90001"],
                        "local_patient_id_l": ["c"], "source_r": ["gp"], "provider_ods_r": ["Z90001"],
                        "local_patient_id_r": ["a"]})
    report = quality_report(*_tables(ROWS), faults=faults, reviews=reviews)
    # both trusted: a, b, d -> true a-b, predicted a-b
    assert (report["nhs_number"]["true_pairs"], report["nhs_number"]["predicted_pairs"]) == (1, 1)
    # the rest: true a-c, b-c, d-e; predicted c-d (false)
    assert (report["probabilistic"]["true_pairs"], report["probabilistic"]["predicted_pairs"],
            report["probabilistic"]["true_positive_pairs"]) == (3, 1, 0)
    # touching c: true a-c, b-c; predicted c-d -> precision 0, recall 0
    assert report["by_fault"]["name_swap"] == {"records": 1, "true_pairs": 2, "predicted_pairs": 1,
                                               "true_positive_pairs": 0, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    # touching d: true d-e (missed), predicted c-d (false)
    assert report["by_fault"]["twin"]["true_pairs"] == 1 and report["by_fault"]["twin"]["predicted_pairs"] == 1
    assert report["review"] == {"queued": 1, "pairs": 1, "true_pairs": 1, "linked_anyway": 0}


def test_perfect_linkage_scores_one_and_partial_linkage_is_counted_exactly():
    rows = [("a", "P1", "T1", True), ("b", "P1", "T1", False), ("c", "P1", "T1", False), ("d", "P4", "T2", False)]
    assert pairwise_quality(*_tables(rows)).f1 == 1.0
    # c split off: true pairs a-b, a-c, b-c; predicted a-b only.
    rows[2] = ("c", "P3", "T1", False)
    quality = pairwise_quality(*_tables(rows))
    assert quality.precision == 1.0 and quality.recall == pytest.approx(1 / 3) and quality.f1 == pytest.approx(0.5)
