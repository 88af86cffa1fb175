"""`generate`: the synthetic integrated care system, written as landing extracts plus ground truth.

    population -> journeys (logical frames) -> censor/resolve -> truth tables
                                          \\-> render -> record faults -> monthly deliveries
                                               -> file and row faults -> landing files
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from carebridge.core.reference import Reference, load_reference

from .config import extracts
from .consistency import censor, resolve
from .demographic import PERSON_KINDS, apply_demographic_faults, demographic_rates, relate_people
from .faults import FaultLog, apply_record_faults
from .frames import Numbers, Recorder
from .journeys import simulate
from .landing import Schedule, build_files, csv_bytes, inject_file_faults, write_files
from .local_ids import PersonIds
from .person_records import gp_presence, person_records, presence
from .population import Population, make_population
from .render import explode_months, explode_presence, render_table
from .services import Context, Providers, make_severity
from .truth import (care_plans_truth, contacts_truth, persons_truth, records_truth, referrals_truth,
                    scores_truth, setting_lookup)
from .vector import stream
from .window import Window, make_window

__all__ = ["GenerationSummary", "generate", "default_truth_dir", "parse_months", "SOURCES"]

SOURCES = tuple(extracts()["sources"])


@dataclass(frozen=True)
class GenerationSummary:
    persons: int
    seed: int
    months: tuple[str, ...]
    fault_rate: float
    deliveries: int
    files_written: int
    rows: dict[str, int]            # "<source>.<table>" -> data rows written (all submissions)
    truth_rows: dict[str, int]      # truth table -> rows
    faults: dict[str, int]          # fault kind -> faults injected
    demographic_faults: dict[str, float] = None   # demographic fault kind -> rate (only those above 0)


def parse_months(text: str) -> tuple[str, str]:
    """"2025-04..2026-03" -> ("2025-04", "2026-03"); a single month is a window of one."""
    first, _, last = text.partition("..")
    return first.strip(), (last or first).strip()


def default_truth_dir(landing: Path) -> Path:
    """The truth folder beside the landing area (never inside it, where a pipeline would read it)."""
    return Path(landing).parent / "truth"


def generate(persons: int, landing: Path, truth: Path, seed: int = 42,
             months: tuple[str, str] = ("2025-04", "2026-03"), fault_rate: float = 0.0,
             demographic_faults: Mapping[str, float] | None = None) -> GenerationSummary:
    """Write `persons` people's GP, trust, Talking Therapies and VCSE extracts for the months to
    `landing`, and the ground truth to `truth`. Same arguments, same bytes. `demographic_faults`:
    kind -> rate for faults.yaml's `demographic` kinds (`all` sets every kind; default all 0)."""
    landing, truth = Path(landing), Path(truth)
    _check_arguments(persons, landing, truth, fault_rate)
    rates = demographic_rates(demographic_faults)
    window = make_window(*months)
    reference = load_reference()
    people, frames, related = _journeys(persons, window, reference, seed, rates)
    kinds = _organisations_by_kind(reference)
    providers = {s: tuple(kinds[extracts()["sources"][s]["provider_kind"]]) for s in SOURCES}
    schedule = Schedule(providers, window, fault_rate, stream(seed, "faults/resubmitted_month"))
    log = FaultLog()
    deliver = _Deliver(frames, people, window, PersonIds(seed, persons), schedule, fault_rate, seed, log,
                       kinds.get("icb", [None])[0], rates, related)
    delivered, records = deliver.all_sources()
    files = inject_file_faults(build_files(delivered, schedule, window, kinds), fault_rate,
                               stream(seed, "faults/files"), log)
    _clear(landing, SOURCES)
    rows = write_files(files, landing)
    tables = _truth_tables(frames, people, records, reference)
    tables["faults"] = log.table().sort_by([(c, "ascending") for c in ("source", "provider_ods", "reporting_month",
                                                                        "table", "kind", "local_id")])
    summary = GenerationSummary(
        persons=persons, seed=seed, months=window.months, fault_rate=fault_rate,
        deliveries=len(schedule.deliveries), files_written=len(files), rows=dict(sorted(rows.items())),
        truth_rows={name: len(t) for name, t in tables.items()}, faults=log.counts(),
        demographic_faults={k: v for k, v in rates.items() if v > 0},
    )
    _write_truth(truth, tables, summary, dict(sorted(log.opportunities.items())))
    return summary


def _check_arguments(persons: int, landing: Path, truth: Path, fault_rate: float) -> None:
    if persons < 1:
        raise ValueError("persons must be at least 1")
    if not 0.0 <= fault_rate <= 1.0:
        raise ValueError("fault_rate must be between 0 and 1")
    if truth.resolve().is_relative_to(landing.resolve()):
        raise ValueError("the truth folder must not be inside the landing area")


def _journeys(persons: int, window: Window, reference: Reference, seed: int, rates: Mapping[str, float]
              ) -> tuple[Population, dict[str, pa.Table], dict[str, np.ndarray]]:
    """The population and everything that happened to them in the window (logical frames), and the
    people made twins or household members of another (demographic faults)."""
    people = make_population(persons, window, stream(seed, "population"), reference)
    related = {}
    if any(rates.get(kind, 0.0) > 0 for kind in PERSON_KINDS):
        related = relate_people(people, rates, stream(seed, "faults/demographic/people"))
    ctx = Context(seed, stream(seed, "journeys"), window, people, Providers.from_reference(reference),
                  make_severity(stream(seed, "severity"), persons), Recorder(), Numbers())
    simulate(ctx)
    return people, resolve(censor(ctx.out.tables(), window)), related


def _organisations_by_kind(reference: Reference) -> dict[str, list[str]]:
    kinds: dict[str, list[str]] = {}
    for ods, kind in sorted(reference.organisation_kinds().items()):
        kinds.setdefault(kind, []).append(ods)
    return kinds


def _truth_tables(frames: dict[str, pa.Table], people: Population, records: pa.Table,
                  reference: Reference) -> dict[str, pa.Table]:
    return {
        "persons": persons_truth(people, frames["coded_events"]),
        "records": records_truth(records, people),
        "referrals": referrals_truth(frames["referrals"], frames["gp_referrals"], frames["contacts"], people,
                                     setting_lookup(reference)),
        "contacts": contacts_truth(frames["contacts"], people),
        "care_plans": care_plans_truth(frames["care_plans"], frames["coded_events"], people),
        "scores": scores_truth(frames["scores"], frames["coded_events"], people),
    }


@dataclass(frozen=True)
class _Deliver:
    """Turns the logical frames into delivered rows per extract table, record faults included."""
    frames: dict[str, pa.Table]
    people: Population
    window: Window
    person_ids: PersonIds
    schedule: Schedule
    fault_rate: float
    seed: int
    log: FaultLog
    residence_org: str | None
    demographic: Mapping[str, float]
    related: dict[str, np.ndarray]

    def all_sources(self) -> tuple[dict[tuple[str, str], pa.Table], pa.Table]:
        """Delivered rows per (source, table), and every person-level record."""
        delivered: dict[tuple[str, str], pa.Table] = {}
        records = [self._source(source, delivered) for source in SOURCES]
        return delivered, pa.concat_tables(records)

    def _faulty(self, rendered: pa.Table, source: str, table: str) -> pa.Table:
        rng = stream(self.seed, f"faults/{source}.{table}")
        return apply_record_faults(rendered, source, table, self.fault_rate, rng, self.log, self.window.months,
                                   self.schedule.final_ids(source))

    def _source(self, source: str, delivered: dict[tuple[str, str], pa.Table]) -> pa.Table:
        """Activity tables first; person-level tables then hold the people those mention."""
        tables = extracts()["sources"][source]["tables"]
        activity = [t for t, spec in tables.items() if spec["frame"] not in ("header", "person_records")]
        for table in activity:
            rendered = self._faulty(render_table(self.frames, source, table, self.person_ids, self.window),
                                    source, table)
            delivered[(source, table)] = explode_months(rendered, source, table, self.window)
        present = presence([delivered[(source, t)] for t in activity])
        provider, person, month = gp_presence(self.people, self.window, present) if source == "gp" else present
        frame, record = person_records(source, self.people, provider, person, self.person_ids, self.seed,
                                       self.residence_org)
        last = np.zeros(len(frame), dtype=np.int64)
        np.maximum.at(last, record, month)
        frame = self._demographic(source, frame, last)
        for table in (t for t, spec in tables.items() if spec["frame"] == "person_records"):
            rendered = render_table({"person_records": frame}, source, table, self.person_ids, self.window)
            rendered = rendered.set_column(rendered.schema.get_field_index("_last"), "_last", pa.array(last))
            rendered = self._faulty(rendered, source, table)
            delivered[(source, table)] = explode_presence(rendered, source, table, self.window, record, month)
        return frame


    def _demographic(self, source: str, frame: pa.Table, last: np.ndarray) -> pa.Table:
        """Demographic faults on the source's logical person records, each logged per record."""
        rng = stream(self.seed, f"faults/demographic/{source}")
        frame, done = apply_demographic_faults(frame, source, self.people, self.demographic, rng,
                                               self.log.opportunities)
        person = frame["person"].to_numpy()
        for kind, persons in self.related.items():
            self.log.opportunities[kind] += len(frame)
            rows = np.flatnonzero(np.isin(person, persons))
            partner = self.people.person_id[self.people.related[person[rows]]]
            done[kind] = (rows, [f"{kind} of {p}" for p in partner])
        months = np.array(self.window.months, dtype=object)
        final = self.schedule.final_ids(source)
        for kind, (rows, details) in done.items():
            if len(rows) == 0:
                continue
            providers = frame["provider_ods"].to_numpy(zero_copy_only=False)[rows]
            table = extracts()["person_tables"][source]["table"]
            self.log.add(kind, source, providers, months[last[rows]], final(providers, last[rows]), table,
                         frame["local_id"].to_numpy(zero_copy_only=False)[rows], np.array(details, dtype=object))
        return frame


def _clear(landing: Path, sources: tuple[str, ...]) -> None:
    """Remove earlier generated extracts (only the source folders; a deployment's reference/ stays)."""
    for source in sources:
        if (landing / source).is_dir():
            shutil.rmtree(landing / source)
    landing.mkdir(parents=True, exist_ok=True)


def _as_text(table: pa.Table) -> pa.Table:
    return pa.table({name: pc.cast(column, pa.string()) for name, column in zip(table.column_names, table.columns)})


def _write_truth(truth: Path, tables: dict[str, pa.Table], summary: GenerationSummary,
                 opportunities: dict[str, int]) -> None:
    truth.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        (truth / f"{name}.csv").write_bytes(csv_bytes(_as_text(table)))
    manifest = {
        "seed": summary.seed, "persons": summary.persons, "months": [summary.months[0], summary.months[-1]],
        "fault_rate": summary.fault_rate, "demographic_faults": summary.demographic_faults,
        "counts": {**{k: v for k, v in asdict(summary).items() if k in ("deliveries", "files_written", "rows",
                                                                         "truth_rows", "faults")},
                   "fault_opportunities": opportunities},
    }
    (truth / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
