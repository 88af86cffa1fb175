"""The probabilistic linkage model as data: `probabilistic.yaml` read into frozen dataclasses.

Nothing here runs SQL or Splink; `splink_settings` turns the declared comparisons and blocking
rules into a Splink `SettingsCreator` (dialect-free: Splink renders SQL per backend).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ColumnRule", "Comparison", "BlockingRule", "Training", "Thresholds", "LinkageModel",
           "load_model", "default_model", "blocking_rule_sql", "splink_settings", "SCOPES"]

DEFAULT_PATH = Path(__file__).with_name("probabilistic.yaml")

# The condition `scope: untrusted` adds: at least one side has no trustworthy NHS number.
SCOPES = {"all": "", "untrusted": "(l.nhs_number IS NULL OR r.nhs_number IS NULL)"}


@dataclass(frozen=True)
class ColumnRule:
    column: str
    kind: str                       # name | date | postcode | postcode_sector | postcode_district | code
    unknown: tuple[str, ...] = ()   # values that mean "not known" (become null)
    source: str | None = None       # the input column (default: `column` itself)


@dataclass(frozen=True)
class Comparison:
    column: str
    function: str | None = None                 # a splink.comparison_library class
    options: dict[str, Any] = field(default_factory=dict)
    term_frequency_adjustments: bool = False
    levels: tuple[dict[str, Any], ...] = ()     # or: levels declared one by one
    output_column_name: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class BlockingRule:
    equal: tuple[str, ...] = ()
    scope: str = "untrusted"
    sql: str | None = None          # or: a rule over l. and r. as it stands


@dataclass(frozen=True)
class Training:
    u_max_pairs: int
    u_seed: int
    deterministic_rules: tuple[str, ...]
    deterministic_recall: float
    em_blocking_rules: tuple[str, ...]
    em_max_pairs: int
    floor: float
    em_max_iterations: int = 25


@dataclass(frozen=True)
class Thresholds:
    link: float
    ambiguity_margin: float
    nhs_conflict: float
    nhs_split: float
    chain_veto: float
    nhs_typo: float = 12.0
    nhs_typo_digits: int = 2


@dataclass(frozen=True)
class LinkageModel:
    columns: tuple[ColumnRule, ...]
    comparisons: tuple[Comparison, ...]
    blocking_rules: tuple[BlockingRule, ...]
    training: Training
    thresholds: Thresholds
    bands: tuple[tuple[str, float], ...]        # (band, lowest weight), highest band first
    declared: dict[str, Any]                    # the file as read, recorded with each run
    contradictions: tuple[str, ...] = ()        # SQL over a pair: never linked; held apart under one NHS number
    personal: tuple[str, ...] = ()              # comparisons household members and twins do not share


def _column_rule(name: str, spec: dict[str, Any]) -> ColumnRule:
    return ColumnRule(column=name, kind=spec["kind"], unknown=tuple(str(v) for v in spec.get("unknown", ())),
                      source=spec.get("from"))


def _comparison(spec: dict[str, Any]) -> Comparison:
    return Comparison(column=spec["column"], function=spec.get("function"), options=dict(spec.get("options", {})),
                      term_frequency_adjustments=bool(spec.get("term_frequency_adjustments", False)),
                      levels=tuple(spec.get("levels", ())), output_column_name=spec.get("output_column_name"),
                      description=spec.get("description"))


def _blocking_rule(spec: dict[str, Any]) -> BlockingRule:
    if spec.get("scope", "untrusted") not in SCOPES:
        raise ValueError(f"blocking rule scope must be one of {sorted(SCOPES)}: {spec}")
    if bool(spec.get("equal")) == bool(spec.get("sql")):
        raise ValueError(f"a blocking rule has either `equal` or `sql`: {spec}")
    return BlockingRule(equal=tuple(spec.get("equal", ())), scope=spec.get("scope", "untrusted"), sql=spec.get("sql"))


def model_from_dict(declared: dict[str, Any]) -> LinkageModel:
    bands = sorted(declared["bands"].items(), key=lambda kv: -kv[1])
    return LinkageModel(
        columns=tuple(_column_rule(n, s) for n, s in declared["columns"].items()),
        comparisons=tuple(_comparison(c) for c in declared["comparisons"]),
        blocking_rules=tuple(_blocking_rule(b) for b in declared["blocking_rules"]),
        training=_training(declared["training"]),
        thresholds=Thresholds(**declared["thresholds"]),
        bands=tuple((name, float(low)) for name, low in bands),
        declared=declared,
        contradictions=tuple(declared.get("contradictions", ())),
        personal=tuple(declared.get("personal", ())))


def _training(spec: dict[str, Any]) -> Training:
    return Training(u_max_pairs=int(spec["u_max_pairs"]), u_seed=int(spec["u_seed"]),
                    deterministic_rules=tuple(spec["deterministic_rules"]),
                    deterministic_recall=float(spec["deterministic_recall"]),
                    em_blocking_rules=tuple(spec["em_blocking_rules"]), em_max_pairs=int(spec["em_max_pairs"]),
                    floor=float(spec["floor"]), em_max_iterations=int(spec.get("em_max_iterations", 25)))


def load_model(path: Path = DEFAULT_PATH) -> LinkageModel:
    with open(path, encoding="utf-8") as fh:
        return model_from_dict(yaml.safe_load(fh))


@cache
def default_model() -> LinkageModel:
    return load_model()


def _side(expression: str, side: str) -> str:
    """`birth_date` -> `l.birth_date`; `year(birth_date)` -> `year(l.birth_date)`."""
    if "(" not in expression:
        return f"{side}.{expression}"
    head, _, rest = expression.partition("(")
    return f"{head}({side}.{rest}"


def blocking_rule_sql(rule: BlockingRule) -> str:
    """The rule as Splink blocking SQL: equality on each expression (or the rule's own SQL), then
    the scope's condition."""
    parts = [f"({rule.sql})"] if rule.sql else [f"{_side(e, 'l')} = {_side(e, 'r')}" for e in rule.equal]
    if SCOPES[rule.scope]:
        parts.append(SCOPES[rule.scope])
    return " AND ".join(parts)


def _splink_comparison(comparison: Comparison) -> Any:
    import splink.comparison_library as cl

    if comparison.levels:
        levels = [_level(level) for level in comparison.levels]
        return cl.CustomComparison(levels, output_column_name=comparison.output_column_name or comparison.column,
                                   comparison_description=comparison.description)
    creator = getattr(cl, comparison.function)(comparison.column, **comparison.options)
    if comparison.term_frequency_adjustments:
        creator.configure(term_frequency_adjustments=True)
    return creator


def _level(spec: dict[str, Any]) -> dict[str, Any]:
    # the levels are written in DuckDB's SQL; Splink translates them (sqlglot) for another backend
    level = {"sql_condition": spec["sql"], "label_for_charts": spec.get("label") or "null",
             "is_null_level": bool(spec.get("null_level", False))}
    if spec["sql"].strip().upper() != "ELSE":
        level["base_dialect_str"] = "duckdb"
    if spec.get("tf_column"):
        level["tf_adjustment_column"] = spec["tf_column"]
    return level


def splink_settings(model: LinkageModel, probability_two_random_records_match: float) -> Any:
    """A Splink `SettingsCreator` for a dedupe over all person records, keyed `unique_id`."""
    from splink import SettingsCreator

    return SettingsCreator(
        link_type="dedupe_only",
        linker_uid="carebridge",  # Splink's default is random per linker: a fixed one keeps the saved model reproducible
        unique_id_column_name="unique_id",
        comparisons=[_splink_comparison(c) for c in model.comparisons],
        blocking_rules_to_generate_predictions=[blocking_rule_sql(r) for r in model.blocking_rules],
        probability_two_random_records_match=probability_two_random_records_match,
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
        max_iterations=model.training.em_max_iterations,
    )
