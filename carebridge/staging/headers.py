"""Match a file's header to its TableSpec: case-insensitive names, v5 aliases, unknown extras."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from carebridge.staging.tables import TableSpec

__all__ = ["ColumnMap", "map_columns", "spec_columns", "duplicate_columns"]


@dataclass(frozen=True)
class ColumnMap:
    positions: dict[str, int]  # canonical name -> position in the file's header
    aliases_used: tuple[str, ...]  # "alias->canonical" as written in the file
    unknown: tuple[int, ...]  # positions of header fields the spec does not know

    def unknown_names(self, header: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(header[i] for i in self.unknown)


def duplicate_columns(header: tuple[str, ...], spec: TableSpec | None) -> list[str]:
    """What makes a header ambiguous: a name repeated (compared case-insensitively), or two fields
    naming one spec column (its name and an alias, or two aliases). Empty when the header is clear."""
    lowered = [name.strip().lower() for name in header]
    problems = [f"{name!r} appears {lowered.count(name.lower())} times"
                for name in dict.fromkeys(h for h in header) if lowered.count(name.strip().lower()) > 1
                and lowered.index(name.strip().lower()) == header.index(name)]
    for column in spec.columns if spec else ():
        names = {column.name.lower(), *(a.lower() for a in column.aliases)}
        found = list(dict.fromkeys(header[i] for i, name in enumerate(lowered) if name in names))
        if len(found) > 1:
            problems.append(f"{' and '.join(repr(f) for f in found)} both give {column.name}")
    return problems


def map_columns(header: tuple[str, ...], spec: TableSpec) -> ColumnMap:
    """Canonical names win over aliases when a file has both; the first of repeated names wins."""
    lowered = [name.strip().lower() for name in header]
    positions: dict[str, int] = {}
    aliases: list[str] = []
    for column in spec.columns:
        if column.name.lower() in lowered:
            positions[column.name] = lowered.index(column.name.lower())
    for column in spec.columns:
        for alias in column.aliases:
            if column.name not in positions and alias.lower() in lowered:
                positions[column.name] = lowered.index(alias.lower())
                aliases.append(f"{header[positions[column.name]]}->{column.name}")
    used = set(positions.values())
    return ColumnMap(positions, tuple(aliases), tuple(i for i in range(len(header)) if i not in used))


def spec_columns(records: pa.Table, spec: TableSpec, columns: ColumnMap) -> pa.Table:
    """The spec's columns in spec order, as text; columns the file lacks are all null."""
    missing = pa.nulls(records.num_rows, pa.string())
    return pa.table(
        {
            c.name: records.column(columns.positions[c.name]) if c.name in columns.positions else missing
            for c in spec.columns
        }
    )
