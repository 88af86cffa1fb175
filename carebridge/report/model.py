"""What a report is made of: sections of charts, each chart with the published rows it draws."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa

__all__ = ["Chart", "Section"]


@dataclass(frozen=True)
class Chart:
    """One chart: a Vega-Lite (or Vega) spec with its data inline, and the published rows behind it,
    shown as a table under the chart so every figure can be read without the picture."""

    key: str
    title: str
    spec: dict[str, Any]
    source: str  # the published table the rows come from
    rows: pa.Table
    caption: str = ""
    mode: Literal["vega-lite", "vega"] = "vega-lite"
    empty: bool = False  # nothing published to draw: the spec is a one-line message instead


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    intro: str
    charts: tuple[Chart, ...] = ()
    notes: tuple[str, ...] = field(default=())
    links: tuple[tuple[str, str], ...] = ()  # (text, href)
    # (table, description, ((column, description), ...)): the data dictionary's entries shown in the section
    dictionary: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = ()
