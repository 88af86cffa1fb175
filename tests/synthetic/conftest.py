"""Generated data shared by the synthetic tests (each generated once per session), and a tiny
independent reader of the landing area (plain csv module, so it does not share code with the
generator's writer)."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from carebridge.synthetic import GenerationSummary, generate

PERSONS = 2000


@dataclass(frozen=True)
class Generated:
    landing: Path
    truth: Path
    summary: GenerationSummary
    seconds: float


def _generate(root: Path, **kwargs) -> Generated:
    landing, truth = root / "landing", root / "truth"
    started = time.perf_counter()
    summary = generate(landing=landing, truth=truth, **kwargs)
    return Generated(landing, truth, summary, time.perf_counter() - started)


@pytest.fixture(scope="session")
def clean(tmp_path_factory) -> Generated:
    return _generate(tmp_path_factory.mktemp("clean"), persons=PERSONS, seed=42, fault_rate=0.0)


@pytest.fixture(scope="session")
def faulty(tmp_path_factory) -> Generated:
    return _generate(tmp_path_factory.mktemp("faulty"), persons=PERSONS, seed=42, fault_rate=0.05)


@dataclass(frozen=True)
class LandedFile:
    source: str
    provider: str
    month: str
    submission: str
    table: str
    path: Path
    columns: list[str]
    rows: list[list[str]]          # values as text; "" for empty
    encoding: str
    complete_last_line: bool


def read_landed(path: Path, landing: Path) -> LandedFile:
    source, provider, month, submission, name = path.relative_to(landing).parts
    table = name.rsplit(".", 1)[0]
    if path.suffix == ".parquet":
        data = pq.read_table(path)
        rows = [["" if v is None else v for v in row.values()] for row in data.to_pylist()]
        return LandedFile(source, provider, month, submission, table, path, data.column_names, rows, "parquet", True)
    raw = path.read_bytes()
    try:
        text, encoding = raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = raw.decode("cp1252"), "cp1252"
    lines = list(csv.reader(io.StringIO(text)))
    return LandedFile(source, provider, month, submission, table, path, lines[0], lines[1:], encoding,
                      raw.endswith(b"\n"))


def read_truth(truth: Path, name: str) -> list[dict[str, str]]:
    with open(truth / f"{name}.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session")
def landed() -> Callable[[Path], list[LandedFile]]:
    cache: dict[Path, list[LandedFile]] = {}

    def files(landing: Path) -> list[LandedFile]:
        if landing not in cache:
            paths = sorted(p for p in landing.rglob("*") if p.is_file())
            cache[landing] = [read_landed(p, landing) for p in paths]
        return cache[landing]

    return files


@pytest.fixture(scope="session")
def truth_table() -> Callable[[Path, str], list[dict[str, str]]]:
    return read_truth
