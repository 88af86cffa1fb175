"""Walk the landing area: `<landing>/<source>/<ODS>/<YYYY-MM>/<submission>/<table>.{csv,parquet}`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from carebridge.staging.tables import SOURCES, TableSpec, source_tables

__all__ = ["LandedFile", "discover", "latest_submissions", "delivery_months"]

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_FORMATS = {".csv": "csv", ".parquet": "parquet"}


@dataclass(frozen=True)
class LandedFile:
    source: str
    provider_ods: str
    reporting_month: str
    submission_id: str
    table_name: str  # canonical name when the spec knows the table, else the file stem
    spec: TableSpec | None
    path: Path
    source_file: str  # path relative to the landing area, POSIX style
    format: str

    @property
    def delivery(self) -> tuple[str, str, str]:
        return (self.source, self.provider_ods, self.reporting_month)


def _landed_file(landing: Path, path: Path) -> LandedFile | None:
    """A LandedFile for a path of the expected shape, else None."""
    parts = path.relative_to(landing).parts
    if len(parts) != 5 or path.suffix.lower() not in _FORMATS:
        return None
    source, ods, month, submission, _ = parts
    if source not in SOURCES or not _MONTH.match(month):
        return None
    spec = source_tables(source).get(path.stem.lower())
    return LandedFile(
        source=source,
        provider_ods=ods,
        reporting_month=month,
        submission_id=submission,
        table_name=spec.name if spec else path.stem,
        spec=spec,
        path=path,
        source_file=path.relative_to(landing).as_posix(),
        format=_FORMATS[path.suffix.lower()],
    )


def discover(landing: Path, months: list[str] | None = None) -> tuple[list[LandedFile], list[str]]:
    """Landed files (sorted by path) and the paths under a source folder that do not fit the layout.

    `<landing>/reference/` and anything outside the four source folders is not a delivery and is
    ignored silently; `months` restricts to those reporting months.
    """
    found: list[LandedFile] = []
    ignored: list[str] = []
    for source in SOURCES:
        for path in sorted(p for p in (landing / source).rglob("*") if p.is_file()):
            landed = _landed_file(landing, path)
            if landed is None:
                ignored.append(path.relative_to(landing).as_posix())
            elif months is None or landed.reporting_month in months:
                found.append(landed)
    return found, ignored


def latest_submissions(files: list[LandedFile]) -> dict[tuple[str, str, str], str]:
    """(source, provider, month) -> the latest submission id (ids sort in time order)."""
    latest: dict[tuple[str, str, str], str] = {}
    for f in files:
        latest[f.delivery] = max(latest.get(f.delivery, f.submission_id), f.submission_id)
    return latest


def delivery_months(landing: Path) -> dict[str, list[str]]:
    """Reporting month -> its delivery folders (`<source>/<ODS>/<YYYY-MM>/<submission>`, POSIX,
    sorted) that hold at least one file. Cheap (folders only, no file is read): the landing sensor,
    the schedule and the CLI's up-front check use it; an absent landing area has no months."""
    months: dict[str, list[str]] = {}
    for source in SOURCES:
        for folder in sorted((landing / source).glob("*/*/*")):
            month = folder.parent.name
            if _MONTH.match(month) and folder.is_dir() and any(p.is_file() for p in folder.iterdir()):
                months.setdefault(month, []).append(folder.relative_to(landing).as_posix())
    return dict(sorted(months.items()))
