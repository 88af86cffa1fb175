"""The probabilistic pass: Splink (Fellegi-Sunter) on DuckDB scores candidate record pairs.

`SplinkLinker(model)` is a `ProbabilisticLinker`: given every person record (`unique_id`,
`trusted` and the person columns) it trains the model of `probabilistic.yaml` on the run's own
records and returns the scored pairs the decisions need. It decides nothing itself: which pairs
link, conflict or are held apart is `linkage.resolve`.

Training, every run, without labels (the NHS number is not used: it is what the model checks):
- lambda (the probability that two random records match): Splink's direct estimate from the pairs
  the declared deterministic rules find, scaled by their assumed recall;
- u: Splink's random sampling of record pairs;
- m: Splink's expectation maximisation, one session per declared EM blocking rule (each learns the
  comparisons its rule does not use).
A level training never reached (m or u missing or zero) gets the declared `floor`, and each
comparison's m and u are rescaled to sum to one, so no level weighs infinitely for or against.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from carebridge.linkage.model import LinkageModel, default_model, splink_settings
from carebridge.linkage.prepare import comparison_records

__all__ = ["ScoredPairs", "ProbabilisticLinker", "SplinkDatabase", "SplinkLinker", "PAIR_SCHEMA", "floor_parameters", "prior_weight",
           "unobserved_not_in_favour"]

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


# A Splink backend other than the default DuckDB: given the comparison records, a context in which
# they are the table `cmp` of a Splink database API, with a function running SQL there (-> Arrow).
SplinkDatabase = Callable[[pa.Table], AbstractContextManager[tuple[Any, Callable[[str], pa.Table]]]]


class ProbabilisticLinker(Protocol):
    """Given every person record (`unique_id`, `trusted`, person columns), the scored pairs."""

    def __call__(self, records: pa.Table) -> ScoredPairs: ...


def prior_weight(probability: float) -> float:
    return math.log2(probability / (1.0 - probability))


def floor_parameters(settings: dict[str, Any], floor: float) -> dict[str, Any]:
    """A copy of a Splink settings dict where every non-null level's m and u are at least `floor`
    (missing ones too), each comparison's m and u rescaled to sum to one."""
    filled = {**settings, "comparisons": []}
    for comparison in settings["comparisons"]:
        levels = [dict(level) for level in comparison["comparison_levels"]]
        scored = [level for level in levels if not level.get("is_null_level")]
        for key in ("m_probability", "u_probability"):
            for level in scored:
                value = level.get(key)
                level[key] = max(float(value), floor) if isinstance(value, (int, float)) else floor
            total = sum(level[key] for level in scored)
            for level in scored:
                level[key] = level[key] / total
        filled["comparisons"].append({**comparison, "comparison_levels": levels})
    return filled


def unobserved_not_in_favour(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """`after` (an EM session's settings) where a level the session could have learnt but never
    saw weighs nothing in favour of a match: m = min(its starting m, u). A comparison the session
    trained (some level's m moved) keeps, for a level it did not observe, the m it started with
    (Splink's default, or an earlier session's), which could weigh for a match although no pair
    of the block reached it (a birth date "within a year" among pairs agreeing on both names and
    postcode; a postcode "one edit" away). A level may be unobservable in a block (sources without
    names never enter a block on names), so it is not pushed to the floor either."""
    previous = {c["output_column_name"]: c["comparison_levels"] for c in before["comparisons"]}
    result = {**after, "comparisons": []}
    for comparison in after["comparisons"]:
        levels = [dict(level) for level in comparison["comparison_levels"]]
        old = previous.get(comparison["output_column_name"], [])
        scored = [i for i, level in enumerate(levels) if not level.get("is_null_level")]
        same = [i for i in scored if i < len(old) and levels[i].get("m_probability") == old[i].get("m_probability")]
        if 0 < len(same) < len(scored):
            for i in same:
                m, u = levels[i].get("m_probability"), levels[i].get("u_probability")
                if isinstance(m, (int, float)) and isinstance(u, (int, float)):
                    levels[i]["m_probability"] = min(float(m), float(u))
        result["comparisons"].append({**comparison, "comparison_levels": levels})
    return result


@contextlib.contextmanager
def _tiny_m_allowed():
    """During EM, let an m or u fall below Splink's 1e-300 check instead of failing the session.

    In a block that is almost all true pairs (a small run), EM drives a level seen only among
    the few non-matches to ~1e-303 and Splink 5 raises. Such a level is floored afterwards
    (`floor_parameters`), so the value is harmless; the session's other estimates are kept."""
    from splink.internals import comparison_level

    original = comparison_level._validate_m_u_probability
    comparison_level._validate_m_u_probability = lambda value, *args: None
    try:
        yield
    finally:
        comparison_level._validate_m_u_probability = original


class SplinkLinker:
    """Trains the declared model on the records given and scores their candidate pairs."""

    def __init__(self, model: LinkageModel | None = None, threads: int | None = None,
                 db_api: SplinkDatabase | None = None) -> None:
        self.model = model or default_model()
        self.threads = threads
        self.db_api = db_api        # None: Splink's DuckDBAPI on an in-memory DuckDB

    def __call__(self, records: pa.Table) -> ScoredPairs:
        cmp = comparison_records(records, self.model)
        if cmp.num_rows < 2:
            return ScoredPairs(pairs=PAIR_SCHEMA.empty_table())
        if self.db_api is not None:
            with self.db_api(cmp) as (api, query):
                return self._score(api, query)
        con = duckdb.connect()
        if self.threads:
            con.execute(f"SET threads = {int(self.threads)}")
        try:
            con.register("cmp_arrow", cmp)
            con.execute("CREATE TABLE cmp AS SELECT * FROM cmp_arrow")
            con.unregister("cmp_arrow")
            return self._score(self._db_api(con), lambda sql: con.sql(sql).to_arrow_table())
        finally:
            con.close()

    def _score(self, db_api: Any, query: Callable[[str], pa.Table]) -> ScoredPairs:
        from splink import Linker

        records = query("SELECT count(*) AS n FROM cmp")["n"][0].as_py()
        table = db_api.register("cmp")
        # Training linkers log at ERROR: an EM session that never sees a level warns about it, and
        # `unobserved_not_in_favour` handles exactly that case: such a level never counts in favour.
        trainer = Linker(table, splink_settings(self.model, 1.0 / max(records, 2)), log_level=logging.ERROR)
        settings, training = self._train(trainer, records, lambda s: Linker(table, s, log_level=logging.ERROR))
        lam = float(settings["probability_two_random_records_match"])
        settings["retain_intermediate_calculation_columns"] = True
        linker = Linker(table, settings, log_level=logging.WARNING)
        predictions = linker.inference.predict(warning_mode="never")
        pairs = query(self._keep_sql(predictions.physical_name))
        compared = query(f"SELECT count(*) AS n FROM {predictions.physical_name}")["n"][0].as_py()
        chart = linker.visualisations.match_weights_chart().to_html(inline=True)
        return ScoredPairs(pairs=pairs, prior_weight=prior_weight(lam), pairs_compared=int(compared),
                           parameters=linker.misc.save_model_to_json(), training=training,
                           charts={"match_weights": chart})

    def _db_api(self, con: duckdb.DuckDBPyConnection) -> Any:
        """The in-process Splink database API (DuckDB), made in this one place; `db_api` given to the
        linker (e.g. Spark's, carebridge.spark.linkage) replaces it."""
        from splink import DuckDBAPI

        return DuckDBAPI(con)

    def _train(self, linker: Any, records: int, relink: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        training = self.model.training
        facts: dict[str, Any] = {}
        try:
            linker.training.estimate_probability_two_random_records_match(
                list(training.deterministic_rules), recall=training.deterministic_recall)
            facts["probability_two_random_records_match"] = (
                f"deterministic rules, recall {training.deterministic_recall}")
        except Exception as exc:  # noqa: BLE001 - no pair met the rules: keep 1 / records
            facts["probability_two_random_records_match"] = f"1 / records ({exc.__class__.__name__})"
        linker.training.estimate_u_using_random_sampling(max_pairs=training.u_max_pairs, seed=training.u_seed)
        sessions = []
        settings = linker.misc.save_model_to_json()
        for rule in training.em_blocking_rules:
            # each session on a fresh linker: one that fails (too few pairs in its block) leaves the
            # model as it was, and the other sessions still learn
            session = relink(settings)
            try:
                with _tiny_m_allowed():
                    session.training.estimate_parameters_using_expectation_maximisation(
                        rule, max_pairs=training.em_max_pairs, estimate_without_term_frequencies=True)
                    trained = floor_parameters(unobserved_not_in_favour(settings, session.misc.save_model_to_json()),
                                               training.floor)
            except Exception as exc:  # noqa: BLE001
                facts.setdefault("em_skipped", []).append(f"{rule}: {exc.__class__.__name__}: {str(exc)[:200]}")
                continue
            settings = trained
            sessions.append(rule)
        settings = floor_parameters(settings, training.floor)
        lam = float(settings.get("probability_two_random_records_match") or 1.0 / max(records, 2))
        settings["probability_two_random_records_match"] = min(max(lam, 1.0 / max(records, 2) ** 2), 0.5)
        facts.update({
            "em_sessions": len(sessions), "lambda": settings["probability_two_random_records_match"], "records": records,
            "u": f"random sampling, at most {training.u_max_pairs} pairs, seed {training.u_seed}",
            "m": f"expectation maximisation over {sessions}, at most {training.em_max_pairs} pairs each",
            "floor": training.floor})
        return settings, facts

    def _keep_sql(self, predictions: str) -> str:
        """Pairs the decisions use: possible links and NHS-number conflicts (at or above the lower
        of the two thresholds), every pair sharing an NHS number or holding two a typo apart,
        every pair with a record without one (how it compares with each record of a person, and
        contradictions), and every pair born the same day with the same postcode or family name,
        or with the same postcode and family name (twins, household members: a record held apart
        from its NHS number must meet their contradictions)."""
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
               OR (length(l.nhs_number) = length(r.nhs_number)
                   AND hamming(l.nhs_number, r.nhs_number) <= {int(thresholds.nhs_typo_digits)})
               OR (l.birth_date = r.birth_date AND (l.postcode = r.postcode OR l.family_name = r.family_name))
               OR (l.postcode = r.postcode AND (l.family_name = r.family_name OR l.family_name = r.given_name
                                                OR l.given_name = r.family_name))
            ORDER BY p.unique_id_l, p.unique_id_r"""


def _tf_adj(comparison: Any) -> str:
    name = comparison.output_column_name or comparison.column
    has_tf = comparison.term_frequency_adjustments or any(level.get("tf_column") for level in comparison.levels)
    return f"p.mw_tf_adj_{name}" if has_tf else "NULL"
