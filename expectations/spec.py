"""Expectation suites as data: `suites/<layer>/<table>.yaml` parsed into frozen specs.

A suite file is a YAML list of entries::

    - expectation: expect_column_values_to_be_in_set   # a GX expectation, or a carebridge_* extension
      kwargs: {column: ethnic_category, value_set_from: ethnic_category}
      severity: warning                                 # error | warning
      why: unknown codes are kept and reported, never dropped
      where: {measure: [PHQ9]}                          # optional: only rows whose column is in the list
    - include: staged_provenance                        # the entries of suites/_shared/<name>.yaml

Code lists are never re-typed: a kwarg `value_set_from: <path>` becomes `value_set`, the value set
at that path of the code lists (`carebridge.core.reference.codes()` plus `code_lists.yaml`); any other
`<name>_from: <path>` becomes `<name>`, the value found at the path. A path is dotted; `*` fans out
over a mapping's values or a list's items, a number indexes a list, and a value set taken from a
mapping is its keys: `ethnic_category` (the codes), `ethnic_category.*.group` (the five groups),
`age_bands.*.2` (the band labels), `disclosure.suppress_below` (a number).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from expectations.config import LAYERS, SUITES_DIR, code_lists

__all__ = ["Severity", "ExpectationSpec", "SuiteSpec", "load_suite", "list_suites", "resolve_path",
           "value_set_at", "spec_columns"]

Severity = Literal["error", "warning"]
_SHARED_DIR = "_shared"
_ENTRY_KEYS = frozenset({"expectation", "kwargs", "severity", "why", "where"})
_COLUMN_KWARGS = ("column", "column_A", "column_B", "by")
_COLUMN_LIST_KWARGS = ("column_list", "column_set")


@dataclass(frozen=True)
class ExpectationSpec:
    """One entry of a suite, with every `*_from` kwarg already resolved."""

    expectation: str
    kwargs: Mapping[str, Any]
    severity: Severity
    why: str
    where: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class SuiteSpec:
    layer: str
    table: str
    expectations: tuple[ExpectationSpec, ...]

    @property
    def name(self) -> str:
        return f"{self.layer}.{self.table}"

    def columns(self) -> frozenset[str]:
        """Every table column the suite reads."""
        return frozenset(c for spec in self.expectations for c in spec_columns(spec))


def spec_columns(spec: ExpectationSpec) -> tuple[str, ...]:
    """The table columns an entry reads (its column kwargs and its `where` columns)."""
    single = [spec.kwargs[k] for k in _COLUMN_KWARGS if k in spec.kwargs]
    many = [c for k in _COLUMN_LIST_KWARGS for c in spec.kwargs.get(k, ())]
    return tuple(dict.fromkeys([*single, *many, *spec.where]))


def _suite_path(layer: str, table: str) -> Path:
    return SUITES_DIR / layer / f"{table}.yaml"


def list_suites(layer: str) -> list[str]:
    """The tables of `layer` that have a suite, sorted."""
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}; expected one of {LAYERS}")
    return sorted(p.stem for p in (SUITES_DIR / layer).glob("*.yaml"))


def load_suite(layer: str, table: str) -> SuiteSpec:
    path = _suite_path(layer, table)
    if layer not in LAYERS or not path.is_file():
        raise FileNotFoundError(f"no expectation suite for {layer}/{table} ({path})")
    try:
        specs = tuple(_parse_entry(entry, code_lists()) for entry in _entries(path))
    except (KeyError, TypeError, ValueError, IndexError, FileNotFoundError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    return SuiteSpec(layer=layer, table=table, expectations=specs)


def _entries(path: Path) -> list[Mapping[str, Any]]:
    """The file's entries, with `include` entries replaced by the shared file's entries."""
    with open(path, encoding="utf-8") as fh:
        entries = yaml.safe_load(fh) or []
    expanded: list[Mapping[str, Any]] = []
    for entry in entries:
        if set(entry) == {"include"}:
            expanded.extend(_entries(SUITES_DIR / _SHARED_DIR / f"{entry['include']}.yaml"))
        else:
            expanded.append(entry)
    return expanded


def _parse_entry(entry: Mapping[str, Any], lists: Mapping[str, Any]) -> ExpectationSpec:
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)} in entry {entry.get('expectation')!r}")
    severity = entry.get("severity", "error")
    if severity not in ("error", "warning"):
        raise ValueError(f"severity must be error or warning, not {severity!r}")
    if not entry.get("why"):
        raise ValueError(f"entry {entry['expectation']!r} has no 'why'")
    return ExpectationSpec(expectation=entry["expectation"],
                           kwargs=_resolve_kwargs(entry.get("kwargs") or {}, lists),
                           severity=severity, why=str(entry["why"]).strip(),
                           where={col: tuple(values) for col, values in (entry.get("where") or {}).items()})


def _resolve_kwargs(kwargs: Mapping[str, Any], lists: Mapping[str, Any]) -> dict[str, Any]:
    resolved: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key == "value_set_from":
            # One path, or a list of paths whose value sets are joined.
            paths = value if isinstance(value, list) else [value]
            resolved["value_set"] = _unique([v for p in paths for v in value_set_at(p, lists)])
        elif key.endswith("_from"):
            resolved[key.removesuffix("_from")] = resolve_path(value, lists)
        else:
            resolved[key] = value
    return resolved


def _children(node: Any) -> list[Any]:
    return list(node.values()) if isinstance(node, Mapping) else list(node)


def _child(node: Any, part: str) -> Any:
    return node[part] if isinstance(node, Mapping) else node[int(part)]


def _walk(path: str, lists: Mapping[str, Any]) -> tuple[list[Any], bool]:
    """The nodes at `path`, and whether a `*` fanned out on the way."""
    nodes, fanned = [lists], False
    for part in path.split("."):
        if part == "*":
            nodes, fanned = [child for node in nodes for child in _children(node)], True
        elif fanned:  # after a fan-out, entries without the field are skipped (DIALOG has no snomed)
            nodes = [_child(node, part) for node in nodes if not isinstance(node, Mapping) or part in node]
        else:
            nodes = [_child(node, part) for node in nodes]
    return nodes, fanned


def resolve_path(path: str, lists: Mapping[str, Any] | None = None) -> Any:
    """The value at `path` of the code lists (a list of values when the path fans out)."""
    nodes, fanned = _walk(path, code_lists() if lists is None else lists)
    return _unique(nodes) if fanned else nodes[0]


def value_set_at(path: str, lists: Mapping[str, Any] | None = None) -> list[Any]:
    """The value set at `path`: a mapping's keys, a list's items, or the fanned-out values."""
    nodes, fanned = _walk(path, code_lists() if lists is None else lists)
    if fanned:
        return _unique(nodes)
    node = nodes[0]
    if isinstance(node, Mapping):
        return list(node)
    if isinstance(node, list):
        return _unique(node)
    raise ValueError(f"{path} is a single value, not a code list")


def _unique(values: Iterable[Any]) -> list[Any]:
    """Values in first-seen order without repeats; nested lists (e.g. SNOMED code lists) are flattened."""
    flat = [v for value in values for v in (value if isinstance(value, list) else [value]) if v is not None]
    return list(dict.fromkeys(flat))
