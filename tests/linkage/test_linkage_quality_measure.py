"""Pairwise precision and recall, counted from group sizes, on a hand-checked example."""

import pyarrow as pa
import pytest

from carebridge.linkage.quality import pairwise_quality


def _tables(rows):
    """rows: (local id, predicted person, truth person, trusted)."""
    keys = {"source": ["gp"] * len(rows), "provider_ods": ["Z90001"] * len(rows)}
    links = pa.table({**keys, "local_patient_id": [r[0] for r in rows], "person_id": [r[1] for r in rows]})
    truth = pa.table({**keys, "local_id": [r[0] for r in rows], "person_id": [r[2] for r in rows]})
    trusted = pa.table({**keys, "local_patient_id": [r[0] for r in rows], "trusted": [r[3] for r in rows]})
    return links, truth, trusted


def test_pairs_of_two_trusted_records_are_left_out_and_the_rest_counted():
    # Truth: {a, b, c} one person, {d, e} another. Predicted: {a, b}, {c, d}, {e}.
    # Scored pairs need an untrusted record (c and e are untrusted):
    #   true pairs: a-c, b-c, d-e (a-b is trusted-trusted) -> 3
    #   predicted pairs: c-d -> 1, and it is false.
    links, truth, trusted = _tables([("a", "P1", "T1", True), ("b", "P1", "T1", True), ("c", "P2", "T1", False),
                                     ("d", "P2", "T2", True), ("e", "P3", "T2", False)])
    quality = pairwise_quality(links, truth, trusted)
    assert (quality.true_pairs, quality.predicted_pairs, quality.true_positive_pairs) == (3, 1, 0)
    assert quality.precision == 0.0 and quality.recall == 0.0 and quality.untrusted_records == 2


def test_perfect_linkage_scores_one_and_partial_linkage_is_counted_exactly():
    rows = [("a", "P1", "T1", True), ("b", "P1", "T1", False), ("c", "P1", "T1", False), ("d", "P4", "T2", False)]
    assert pairwise_quality(*_tables(rows)).f1 == 1.0
    # c split off: true pairs a-b, a-c, b-c; predicted a-b only.
    rows[2] = ("c", "P3", "T1", False)
    quality = pairwise_quality(*_tables(rows))
    assert quality.precision == 1.0 and quality.recall == pytest.approx(1 / 3) and quality.f1 == pytest.approx(0.5)
