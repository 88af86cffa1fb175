"""The Sankey layout: bands conserve people, stay inside their nodes and never overlap."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carebridge.report import sankey

RANK = {"primary": 1, "vcse": 1, "talking_therapies": 2, "secondary": 3}
SETTINGS = ["primary", "vcse", "talking_therapies", "secondary", "self"]


def _flows(rows):
    return [sankey.Flow(s, t, k, p) for s, t, k, p in rows]


def test_node_heights_are_proportional_to_people_and_ordered_by_rank():
    nodes, bands = sankey.layout(_flows([("primary", "secondary", "first_referral", 30),
                                          ("primary", "talking_therapies", "first_referral", 10),
                                          ("secondary", "primary", "step_down", 20)]), RANK)
    left = {n.name: n for n in nodes if n.side == "from"}
    assert [n.name for n in nodes if n.side == "from"] == ["primary", "secondary"]
    assert [n.name for n in nodes if n.side == "to"] == ["primary", "talking_therapies", "secondary"]
    primary, secondary = left["primary"], left["secondary"]
    assert (primary.y1 - primary.y0) == pytest.approx(2 * (secondary.y1 - secondary.y0))
    assert secondary.y0 == pytest.approx(primary.y1 + sankey.GAP)
    assert len(bands) == 3


def test_flows_without_people_are_not_drawn():
    nodes, bands = sankey.layout(_flows([("primary", "vcse", "first_referral", 0)]), RANK)
    assert (nodes, bands) == ([], [])


@given(st.lists(st.tuples(st.sampled_from(SETTINGS), st.sampled_from(SETTINGS),
                          st.sampled_from(["first_referral", "step_up", "re_referral"]),
                          st.integers(min_value=5, max_value=500)), min_size=1, max_size=12))
def test_bands_fill_their_nodes_exactly_without_overlapping(rows):
    nodes, bands = sankey.layout(_flows(rows), RANK)
    assert max(n.y1 for n in nodes) <= sankey.HEIGHT + 1e-6
    for side, span in (("from", "source_y"), ("to", "target_y")):
        for node in (n for n in nodes if n.side == side):
            own = sorted(getattr(b, span) for b in bands
                         if (b.flow.source if side == "from" else b.flow.target) == node.name)
            assert own[0][0] == pytest.approx(node.y0) and own[-1][1] == pytest.approx(node.y1)
            for (_, end), (start, _) in zip(own, own[1:]):
                assert start == pytest.approx(end)  # contiguous: no gap, no overlap


def test_the_vega_spec_carries_one_path_per_band_and_labels_settings():
    nodes, bands = sankey.layout(_flows([("primary", "secondary", "first_referral", 40)]), RANK)
    spec = sankey.vega_spec(nodes, bands, {"primary": "Primary care"}, {"first_referral": "First referral"})
    data = {d["name"]: d["values"] for d in spec["data"]}
    assert len(data["bands"]) == 1 and data["bands"][0]["path"].startswith("M") and data["bands"][0]["people"] == 40
    assert {n["name"] for n in data["nodes"]} == {"Primary care", "secondary"}
