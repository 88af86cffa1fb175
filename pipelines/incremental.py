"""Incremental by construction: a stage whose inputs and outputs are unchanged since it last ran
does no work and says so.

Each stage names its inputs as a fingerprint: digests of the files it reads (a month's deliveries,
the staged Parquet, the NDJSON export), the recorded fingerprints of the stages it reads from, the
settings that change its result (the pseudonymisation key's fingerprint, the asset selection), and
the code's own version (every source, SQL and YAML file of the product). After a stage works it
records that fingerprint with its check outcomes (`audit.stage_fingerprint`; a staged month in a
file beside its Parquet, as staging months never open the warehouse). On the next run, the same
fingerprint with every output still present means a rebuild would write the same rows: the stage
returns its materialisation with `unchanged` in the metadata and the recorded check outcomes.
Anything else (new or resubmitted deliveries, a changed decision, key, code list or line of code,
a dropped table) gives a different fingerprint and the stage rebuilds in full.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa

__all__ = ["digest", "files_digest", "table_digest", "key_digest", "code_version", "Gate", "open_gate", "file_gate",
           "recorded_fingerprints", "FINGERPRINT_FILE"]

FINGERPRINT_FILE = ".fingerprint.json"
_CODE_PACKAGES = ("carebridge", "fhir_mapping", "warehouse", "expectations", "pipelines")
_CODE_SUFFIXES = {".py", ".sql", ".yaml", ".yml", ".json", ".csv"}
_CHUNK = 1 << 20


def digest(*parts: Any) -> str:
    """A SHA-256 of JSON-serialisable parts."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def files_digest(paths: Iterable[Path], root: Path | None = None) -> str:
    """The content of files (and of every file under the folders given), by path relative to `root`."""
    found: list[Path] = []
    missing: list[str] = []  # a path named but absent counts too
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found += [p for p in path.rglob("*") if p.is_file() and p.name != FINGERPRINT_FILE]
        elif path.is_file():
            found.append(path)
        else:
            missing.append(str(path))
    rows = sorted((str(p.relative_to(root)) if root else str(p), _file_sha(p)) for p in set(found))
    return digest(rows, sorted(missing))


def table_digest(table: pa.Table | None) -> str:
    """The content of an Arrow table (None: absent)."""
    if table is None:
        return "absent"
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def key_digest(key: bytes) -> str:
    """What changes when the pseudonymisation key does, without revealing it (an HMAC of a constant)."""
    return hmac.new(key, b"carebridge stage fingerprint", hashlib.sha256).hexdigest()


@cache
def code_version() -> str:
    """Every source, SQL, YAML, JSON and CSV file of the product: any change rebuilds everything."""
    root = Path(__file__).resolve().parent.parent
    files = [p for package in _CODE_PACKAGES for p in (root / package).rglob("*")
             if p.suffix in _CODE_SUFFIXES and p.is_file() and "__pycache__" not in p.parts]
    return files_digest(files, root)


def _check_record(result: dg.AssetCheckResult) -> dict:
    return {"asset": list(result.asset_key.path) if result.asset_key else None, "check": result.check_name,
            "passed": bool(result.passed), "severity": result.severity.value}


@dataclass
class Gate:
    """One stage's decision: `unchanged` when its fingerprint and outputs match the last record.
    `load` reads the stage's record, `save` writes it (the warehouse's audit schema or a file)."""

    stage: str
    fingerprint: str
    recorded: dict | None
    save: Callable[[dict], None]
    outputs_present: bool = True

    @property
    def unchanged(self) -> bool:
        return (self.recorded is not None and self.outputs_present
                and self.recorded.get("fingerprint") == self.fingerprint)

    def metadata(self) -> dict:
        return {"unchanged": self.unchanged, "fingerprint": self.fingerprint[:16]}

    def since(self, metadata: dict | None = None) -> dict:
        """An unchanged stage's metadata: unchanged since which run."""
        return {"unchanged": True, "fingerprint": self.fingerprint[:16], "since_run": self.recorded.get("run_id", ""),
                **(metadata or {})}

    def replay_checks(self) -> list[dg.AssetCheckResult]:
        """The check outcomes recorded when the stage last worked (its outputs are the same rows)."""
        return [dg.AssetCheckResult(
                    asset_key=dg.AssetKey(check["asset"]) if check["asset"] else None, check_name=check["check"],
                    passed=check["passed"], severity=dg.AssetCheckSeverity(check["severity"]),
                    metadata={"unchanged": True, "since_run": self.recorded.get("run_id", "")})
                for check in self.recorded.get("checks", [])]

    def replayed(self, metadata: dict | None = None) -> dg.MaterializeResult:
        """A one-asset stage's result when unchanged."""
        return dg.MaterializeResult(metadata=self.since(metadata), check_results=self.replay_checks())

    def replay(self, keys: Iterable[dg.AssetKey], metadata: dict | None = None) -> Iterator:
        """A multi-asset stage's results when unchanged: each key's materialisation, then the checks."""
        for key in keys:
            yield dg.MaterializeResult(asset_key=key, metadata=self.since(metadata))
        yield from self.replay_checks()

    def record(self, run_id: str, results: Iterable = (), outcome: dict | None = None) -> list:
        """Remember this fingerprint with the checks among `results` (returned as a list) and what
        the stage wants to report when unchanged (`outcome`; its `tables`, "schema.name", are the
        outputs that must still be there for the stage to count as unchanged)."""
        results = list(results)
        checks = [r for r in results if isinstance(r, dg.AssetCheckResult)]
        checks += [c for r in results if isinstance(r, dg.MaterializeResult) for c in (r.check_results or [])]
        self.save({"stage": self.stage, "fingerprint": self.fingerprint, "run_id": run_id,
                   "checks": [_check_record(c) for c in checks], "outcome": outcome or {}})
        return results


def open_gate(engine, stage: str, *inputs: Any) -> Gate:
    """A warehouse stage's gate over `inputs` (with the code's version): its record in
    `audit.stage_fingerprint`; its outputs are the tables that record names, all still there."""
    from warehouse.catalog import audit
    from warehouse.db import table_exists

    fingerprint = digest(code_version(), *inputs)
    recorded = audit.load_fingerprint(engine, stage)
    if _unrecorded(inputs):
        # An upstream stage that never recorded what it built from (its tables were written by
        # something else, e.g. a load outside Dagster): nothing proves the inputs unchanged.
        return Gate(stage, fingerprint, None, lambda record: audit.save_fingerprint(engine, record), False)
    present = (recorded is not None and recorded["fingerprint"] == fingerprint
               and all(table_exists(engine, *t.split(".", 1)) for t in recorded["outcome"].get("tables", [])))
    return Gate(stage, fingerprint, recorded, lambda record: audit.save_fingerprint(engine, record), present)


def _unrecorded(inputs: Iterable[Any]) -> bool:
    return any(i is None or (isinstance(i, list) and any(x is None for x in i)) for i in inputs)


def recorded_fingerprints(engine, *stages: str) -> list[str | None]:
    """The fingerprints the named stages last built from (None: never recorded): a stage downstream
    of them takes these as inputs, so it rebuilds whenever one of them did."""
    from warehouse.catalog import audit

    return [(audit.load_fingerprint(engine, s) or {}).get("fingerprint") for s in stages]


def file_gate(folder: Path, stage: str, fingerprint: str) -> Gate:
    """A stage writing only files (a staged month): its record beside them."""
    path = folder / FINGERPRINT_FILE
    recorded = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def save(record: dict) -> None:
        path.write_text(json.dumps(record, sort_keys=True), encoding="utf-8")

    return Gate(stage, fingerprint, recorded, save, folder.is_dir())
