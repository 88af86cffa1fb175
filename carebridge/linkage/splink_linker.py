"""The probabilistic pass: Splink (Fellegi-Sunter) on DuckDB scores candidate record pairs.

`SplinkLinker(model)` is a `ProbabilisticLinker`: given every person record (`unique_id`,
`trusted` and the person columns) it trains the model of `probabilistic.yaml` on the run's own
records and returns the scored pairs the decisions need. It decides nothing itself: which pairs
link, conflict or are held apart is `linkage.resolve`.

Training, every run:
- lambda (the probability that two random records match): true pairs / all pairs among the
  records with a valid NHS number (records sharing one are the same person);
- u: Splink's random sampling of record pairs;
- m: Splink's estimate from the label column (the NHS number) when the run has at least
  `min_label_pairs` labelled pairs, else Splink's defaults. A level no labelled pair reached gets
  m = `unobserved_m_pairs` / labelled pairs (as if seen that often), not Splink's default
  (which would make, say, a birth date a week apart count *for* a match when no true pair ever
  showed one).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from carebridge.linkage.model import LinkageModel, default_model, splink_settings
from carebridge.linkage.prepare import comparison_records

__all__ = ["ScoredPairs", "ProbabilisticLinker", "SplinkLinker", "PAIR_SCHEMA", "label_pairs",
           "probability_two_random_records_match", "fill_unobserved_m", "prior_weight"]

# Scored pairs always have these; a linker may add one `w_<column>` per comparison: that
# comparison's weight in bits (null when either record lacks the column).
PAIR_SCHEMA = pa.schema([("unique_id_l", pa.int64()), ("unique_id_r", pa.int64()),
                         ("match_weight", pa.float64()), ("match_probability", pa.float64())])


@dataclass(frozen=True)
class ScoredPairs:
    """Scored candidate pairs (`unique_id_l < unique_id_r`) and what the run should record."""

    pairs: pa.Table
    prior_weight: float = 0.0                                  # log2 prior odds inside match_weight
    pairs_compared: int = 0
    parameters: dict[str, Any] = field(default_factory=dict)   # the trained model, as Splink saves it
    training: dict[str, Any] = field(default_factory=dict)     # how it was trained this run
    charts: dict[str, str] = field(default_factory=dict)       # chart name -> standalone HTML


class ProbabilisticLinker(Protocol):
    """Given every person record (`unique_id`, `trusted`, person columns), the scored pairs."""

    def __call__(self, records: pa.Table) -> ScoredPairs: ...


def label_pairs(con: duckdb.DuckDBPyConnection, table: str) -> tuple[int, int]:
    """(records with an NHS number, pairs of them sharing one)."""
    labelled, pairs = con.sql(f"""
        SELECT coalesce(sum(n), 0)::BIGINT, coalesce(sum(n * (n - 1) // 2), 0)::BIGINT
        FROM (SELECT count(*) AS n FROM {table} WHERE nhs_number IS NOT NULL GROUP BY nhs_number)""").fetchall()[0]
    return int(labelled), int(pairs)


def probability_two_random_records_match(labelled: int, true_pairs: int, records: int) -> float:
    """True pairs over all pairs among labelled records; 1 / records when there is nothing to learn from."""
    if labelled > 1 and true_pairs > 0:
        return min(true_pairs / (labelled * (labelled - 1) / 2), 0.5)
    return 1.0 / max(records, 2)


def prior_weight(probability: float) -> float:
    return math.log2(probability / (1.0 - probability))


def fill_unobserved_m(settings: dict[str, Any], unobserved_m: float) -> dict[str, Any]:
    """A copy of a Splink settings dict where every non-null level without a trained m gets
    `unobserved_m`, and each comparison's m values are rescaled to sum to one."""
    filled = {**settings, "comparisons": []}
    for comparison in settings["comparisons"]:
        levels = [dict(level) for level in comparison["comparison_levels"]]
        scored = [level for level in levels if not level.get("is_null_level")]
        for level in scored:
            if not isinstance(level.get("m_probability"), (int, float)):
                level["m_probability"] = unobserved_m
        total = sum(level["m_probability"] for level in scored)
        for level in scored:
            level["m_probability"] = level["m_probability"] / total
        filled["comparisons"].append({**comparison, "comparison_levels": levels})
    return filled


def _trained_settings(settings: dict[str, Any]) -> bool:
    return all(isinstance(level.get("m_probability"), (int, float))
               for c in settings["comparisons"] for level in c["comparison_levels"] if not level.get("is_null_level"))


class SplinkLinker:
    """Trains the declared model on the records given and scores their candidate pairs."""

    def __init__(self, model: LinkageModel | None = None, threads: int | None = None) -> None:
        self.model = model or default_model()
        self.threads = threads

    def __call__(self, records: pa.Table) -> ScoredPairs:
        cmp = comparison_records(records, self.model)
        if cmp.num_rows < 2:
            return ScoredPairs(pairs=PAIR_SCHEMA.empty_table())
        con = duckdb.connect()
        if self.threads:
            con.execute(f"SET threads = {int(self.threads)}")
        try:
            con.register("cmp_arrow", cmp)
            con.execute("CREATE TABLE cmp AS SELECT * FROM cmp_arrow")
            con.unregister("cmp_arrow")
            return self._score(con)
        finally:
            con.close()

    def _score(self, con: duckdb.DuckDBPyConnection) -> ScoredPairs:
        from splink import DuckDBAPI, Linker

        records = con.sql("SELECT count(*) FROM cmp").fetchall()[0][0]
        labelled, true_pairs = label_pairs(con, "cmp")
        lam = probability_two_random_records_match(labelled, true_pairs, records)
        db_api = DuckDBAPI(con)
        table = db_api.register("cmp")
        trainer = Linker(table, splink_settings(self.model, lam), log_level=logging.WARNING)
        settings, training = self._train(trainer, lam, labelled, true_pairs)
        settings["retain_intermediate_calculation_columns"] = True
        linker = Linker(table, settings, log_level=logging.WARNING)
        predictions = linker.inference.predict(warning_mode="never")
        pairs = con.sql(self._keep_sql(predictions.physical_name)).to_arrow_table()
        compared = con.sql(f"SELECT count(*) FROM {predictions.physical_name}").fetchall()[0][0]
        chart = linker.visualisations.match_weights_chart().to_html(inline=True)
        return ScoredPairs(pairs=pairs, prior_weight=prior_weight(lam), pairs_compared=int(compared),
                           parameters=linker.misc.save_model_to_json(), training=training,
                           charts={"match_weights": chart})

    def _train(self, linker: Any, lam: float, labelled: int, true_pairs: int) -> tuple[dict[str, Any], dict[str, Any]]:
        training = self.model.training
        linker.training.estimate_u_using_random_sampling(max_pairs=training.u_max_pairs, seed=training.u_seed)
        m_from_labels = true_pairs >= training.min_label_pairs
        if m_from_labels:
            linker.training.estimate_m_from_label_column(training.m_label_column)
        settings = linker.misc.save_model_to_json()
        if m_from_labels and not _trained_settings(settings):
            settings = fill_unobserved_m(settings, training.unobserved_m_pairs / true_pairs)
        return settings, {
            "probability_two_random_records_match": lam, "records_with_label": labelled, "label_pairs": true_pairs,
            "u": f"random sampling, at most {training.u_max_pairs} pairs, seed {training.u_seed}",
            "m": (f"label column {training.m_label_column}; unobserved levels {training.unobserved_m_pairs} / {true_pairs}"
                  if m_from_labels else f"Splink defaults (fewer than {training.min_label_pairs} label pairs)")}

    def _keep_sql(self, predictions: str) -> str:
        """Pairs the decisions use: possible links and NHS-number conflicts (at or above the lower
        of the two thresholds), every pair sharing an NHS number, and every pair with a record
        without one (how it compares with each record of a person, and contradictions)."""
        thresholds = self.model.thresholds
        floor = min(thresholds.link, thresholds.nhs_conflict)
        weights = ",\n       ".join(
            f"CASE WHEN l.{c.column} IS NULL OR r.{c.column} IS NULL THEN NULL "
            f"ELSE p.mw_{c.output_column_name or c.column} + coalesce({_tf_adj(c)}, 0) END AS w_{c.column}"
            for c in self.model.comparisons)
        return f"""
            SELECT p.unique_id_l, p.unique_id_r, p.match_weight, p.match_probability,
                   {weights}
            FROM {predictions} p
            JOIN cmp l ON l.unique_id = p.unique_id_l
            JOIN cmp r ON r.unique_id = p.unique_id_r
            WHERE p.match_weight >= {floor} OR l.nhs_number = r.nhs_number
               OR l.nhs_number IS NULL OR r.nhs_number IS NULL
            ORDER BY p.unique_id_l, p.unique_id_r"""


def _tf_adj(comparison: Any) -> str:
    name = comparison.output_column_name or comparison.column
    has_tf = comparison.term_frequency_adjustments or any(level.get("tf_column") for level in comparison.levels)
    return f"p.mw_tf_adj_{name}" if has_tf else "NULL"
