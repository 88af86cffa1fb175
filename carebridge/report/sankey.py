"""A two-column Sankey (flow) chart of moves between settings, laid out here and drawn by Vega.

Vega-Lite has no Sankey mark, so the layout is computed in Python (pure, testable) and handed to a
small Vega spec as rectangles (settings) and filled paths (flows). The left column is where people
moved from, the right column where they moved to; band widths are proportional to people.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Flow", "Node", "Band", "layout", "vega_spec"]

WIDTH, HEIGHT, NODE_WIDTH, GAP = 640, 360, 16, 12
LABEL_SPACE = 150


@dataclass(frozen=True)
class Flow:
    source: str
    target: str
    kind: str
    people: float


@dataclass(frozen=True)
class Node:
    side: str  # "from" or "to"
    name: str
    y0: float
    y1: float
    people: float


@dataclass(frozen=True)
class Band:
    flow: Flow
    source_y: tuple[float, float]
    target_y: tuple[float, float]


def _stack(totals: Mapping[str, float], order: list[str], side: str, scale: float) -> dict[str, Node]:
    nodes, y = {}, 0.0
    for name in order:
        height = totals[name] * scale
        nodes[name] = Node(side, name, y, y + height, totals[name])
        y += height + GAP
    return nodes


def _totals(flows: list[Flow], attr: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for flow in flows:
        totals[getattr(flow, attr)] = totals.get(getattr(flow, attr), 0.0) + flow.people
    return totals


def layout(flows: Iterable[Flow], rank: Mapping[str, int]) -> tuple[list[Node], list[Band]]:
    """Nodes stacked top to bottom in setting rank order; each flow a band leaving its source node
    and reaching its target node, bands stacked in the other side's order so they cross least."""
    flows = [f for f in flows if f.people > 0]
    if not flows:
        return [], []
    sources, targets = _totals(flows, "source"), _totals(flows, "target")
    order = lambda names: sorted(names, key=lambda n: (rank.get(n, 99), n))  # noqa: E731
    gaps = GAP * (max(len(sources), len(targets)) - 1)
    scale = (HEIGHT - gaps) / max(sum(sources.values()), sum(targets.values()))
    left = _stack(sources, order(sources), "from", scale)
    right = _stack(targets, order(targets), "to", scale)
    out_y = {name: node.y0 for name, node in left.items()}
    in_y = {name: node.y0 for name, node in right.items()}
    bands = []
    by_target = sorted(flows, key=lambda f: (rank.get(f.target, 99), f.target, f.kind))
    source_span = {}
    for flow in by_target:  # leave each source in target order
        height = flow.people * scale
        source_span[id(flow)] = (out_y[flow.source], out_y[flow.source] + height)
        out_y[flow.source] += height
    for flow in sorted(flows, key=lambda f: (rank.get(f.source, 99), f.source, f.kind)):  # arrive in source order
        height = flow.people * scale
        bands.append(Band(flow, source_span[id(flow)], (in_y[flow.target], in_y[flow.target] + height)))
        in_y[flow.target] += height
    return [*left.values(), *right.values()], bands


def _band_path(band: Band, x0: float, x1: float) -> str:
    """A filled band between two vertical spans, with cubic curves for edges."""
    xm = (x0 + x1) / 2
    (s0, s1), (t0, t1) = band.source_y, band.target_y
    return (f"M{x0:.1f},{s0:.1f}C{xm:.1f},{s0:.1f} {xm:.1f},{t0:.1f} {x1:.1f},{t0:.1f}"
            f"L{x1:.1f},{t1:.1f}C{xm:.1f},{t1:.1f} {xm:.1f},{s1:.1f} {x0:.1f},{s1:.1f}Z")


def vega_spec(nodes: list[Node], bands: list[Band], labels: Mapping[str, str],
              kind_labels: Mapping[str, str]) -> dict[str, Any]:
    """The Vega spec drawing the layout: grey node bars, bands coloured by kind of move, tooltips."""
    x_left, x_right = LABEL_SPACE, WIDTH - LABEL_SPACE
    node_rows = [{"name": labels.get(n.name, n.name), "side": n.side, "people": n.people,
                  "x": x_left - NODE_WIDTH if n.side == "from" else x_right,
                  "y0": n.y0, "y1": n.y1} for n in nodes]
    band_rows = [{"path": _band_path(b, x_left, x_right), "from": labels.get(b.flow.source, b.flow.source),
                  "to": labels.get(b.flow.target, b.flow.target),
                  "move": kind_labels.get(b.flow.kind, b.flow.kind), "people": b.flow.people} for b in bands]
    return {
        "$schema": "https://vega.github.io/schema/vega/v6.json",
        "width": WIDTH, "height": HEIGHT, "padding": 8,
        "data": [{"name": "nodes", "values": node_rows}, {"name": "bands", "values": band_rows}],
        "scales": [{"name": "colour", "type": "ordinal", "domain": {"data": "bands", "field": "move"},
                    "range": "category"}],
        "legends": [{"fill": "colour", "title": "Move", "orient": "bottom", "direction": "horizontal"}],
        "marks": [
            {"type": "path", "from": {"data": "bands"},
             "encode": {"enter": {"path": {"field": "path"}, "fill": {"scale": "colour", "field": "move"},
                                  "fillOpacity": {"value": 0.55},
                                  "tooltip": {"signal": "{'from': datum.from, 'to': datum.to, "
                                                        "'move': datum.move, 'people': datum.people}"}},
                        "hover": {"fillOpacity": {"value": 0.85}},
                        "update": {"fillOpacity": {"value": 0.55}}}},
            {"type": "rect", "from": {"data": "nodes"},
             "encode": {"enter": {"x": {"field": "x"}, "width": {"value": NODE_WIDTH},
                                  "y": {"field": "y0"}, "y2": {"field": "y1"}, "fill": {"value": "#4c566a"},
                                  "tooltip": {"signal": "{'setting': datum.name, 'people': datum.people}"}}}},
            {"type": "text", "from": {"data": "nodes"},
             "encode": {"enter": {
                 "x": {"signal": f"datum.side === 'from' ? datum.x - 6 : datum.x + {NODE_WIDTH + 6}"},
                 "y": {"signal": "(datum.y0 + datum.y1) / 2"},
                 "align": {"signal": "datum.side === 'from' ? 'right' : 'left'"},
                 "baseline": {"value": "middle"}, "fontSize": {"value": 11},
                 "text": {"signal": "datum.name + ' (' + format(datum.people, ',') + ')'"}}}},
        ],
    }
