"""Walk the landing area: `<landing>/<source>/<ODS>/<YYYY-MM>/<submission>/<table>.{csv,parquet}`.

The landing area is a security boundary: it is filled by other organisations' systems. `scan`
never follows a symbolic link (file or folder) and never opens anything: it reads directory
entries with lstat semantics, checks that every resolved path stays under the resolved landing
root, and sorts what it finds into files to stage (`LandedFile`) and entries it will not stage
(`Ignored`, each with a status and a reason naming its path). Folder names are checked against
the rules in `specs/defaults.yaml` (`landing:`): a provider folder must have the shape of an ODS
code, a month folder must be a real month inside the accepted range, a submission folder a
timestamp. `open_landed` reads a landed file without following links anywhere on its path.

`scan` is the one landing walk: staging, the runner (which months to stage) and the Dagster
sensor (`delivery_folders`) all use it, so a month that staging would ignore never becomes a
Dagster partition key.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from carebridge.staging.tables import SOURCES, TableSpec, defaults, source_tables

__all__ = ["LandedFile", "Ignored", "Scan", "scan", "discover", "latest_submissions", "delivery_folders",
           "delivery_months", "month_problem", "open_landed", "read_landed", "restrict"]

_FORMATS = {".csv": "csv", ".parquet": "parquet"}
_FORMAT_PREFERENCE = ("csv", "parquet")  # a table delivered in both formats: the CSV is staged
_NOT_DELIVERIES = ("reference",)  # top-level folders that hold no deliveries (reference data)


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
    root: Path | None = None  # the resolved landing root (open_landed reads relative to it)

    @property
    def delivery(self) -> tuple[str, str, str]:
        return (self.source, self.provider_ods, self.reporting_month)


@dataclass(frozen=True)
class Ignored:
    """An entry of the landing area that is not staged, with the folder levels that were valid."""

    source_file: str
    status: str  # "ignored" (not a delivery file) or "refused" (a link or special file: never read)
    reason: str  # machine-readable code, e.g. bad_month_folder, symlink
    detail: str  # one line naming the path or folder and what is wrong
    source: str | None = None
    provider_ods: str | None = None
    reporting_month: str | None = None
    submission_id: str | None = None
    table_name: str | None = None


@dataclass(frozen=True)
class Scan:
    files: list[LandedFile]
    ignored: list[Ignored]

    @property
    def months(self) -> list[str]:
        """The valid reporting months that hold at least one file to stage."""
        return sorted({f.reporting_month for f in self.files})


# ---------------------------------------------------------------- folder rules (data in defaults.yaml)

@cache
def _rules() -> dict:
    return defaults()["landing"]


def _current_month() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")


def month_problem(name: str) -> tuple[str, str] | None:
    """(reason, detail) when a month folder name is no month inside the accepted range, else None."""
    rules = _rules()
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", name):
        return "bad_month_folder", f"month folder {name!r} is not a month (YYYY-MM, 01-12)"
    latest = _current_month()
    if not rules["earliest_month"] <= name <= latest:
        return "month_out_of_range", (f"month folder {name!r} is outside the accepted range "
                                      f"{rules['earliest_month']}..{latest}")
    return None


def _provider_problem(name: str) -> tuple[str, str] | None:
    if not re.fullmatch(_rules()["provider_pattern"], name):
        return "bad_provider_folder", (f"provider folder {name!r} is not an ODS code "
                                       f"({_rules()['provider_rule']})")
    return None


def _submission_problem(name: str) -> tuple[str, str] | None:
    problem = ("bad_submission_folder", f"submission folder {name!r} is not a timestamp "
                                         f"({_rules()['submission_rule']})")
    if not re.fullmatch(_rules()["submission_pattern"], name):
        return problem
    try:
        dt.datetime.strptime(name[:13], "%Y%m%dT%H%M")
    except ValueError:
        return problem
    return None


# ---------------------------------------------------------------- the walk

def _kind(mode: int) -> str | None:
    """None for a regular file or folder, else what the entry is (refused, never opened)."""
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return "special_file"


_SPECIAL = {"symlink": "is a symbolic link: links are never followed out of or within the landing area",
            "special_file": "is not a regular file (a FIFO, socket or device): never read"}


def _entries(root: Path) -> list[tuple[tuple[str, ...], int]]:
    """Every entry under `root` as (parts relative to root, lstat mode), without following links;
    folders are descended, links and special files listed but not entered."""
    found: list[tuple[tuple[str, ...], int]] = []
    stack: list[tuple[str, ...]] = [()]
    while stack:
        parts = stack.pop()
        try:
            with os.scandir(root.joinpath(*parts)) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue  # a folder that vanished or cannot be listed: nothing in it can be staged
        for entry in entries:
            mode = entry.stat(follow_symlinks=False).st_mode
            child = (*parts, entry.name)
            if stat.S_ISDIR(mode):
                stack.append(child)
            else:
                found.append((child, mode))  # links and special files are listed, never entered
    return sorted(found)


def _folder_levels(parts: tuple[str, ...]) -> tuple[dict[str, str | None], tuple[str, str] | None]:
    """The valid folder levels of a path (source, provider, month, submission) and the first problem."""
    levels: dict[str, str | None] = {}
    checks = (("source", lambda n: None if n in SOURCES else
               ("unknown_source", f"folder {n!r} is not a source ({', '.join(SOURCES)})")),
              ("provider_ods", _provider_problem), ("reporting_month", month_problem),
              ("submission_id", _submission_problem))
    for (name, check), value in zip(checks, parts[:-1]):
        problem = check(value)
        if problem:
            return levels, problem
        levels[name] = value
    return levels, None


def _classify(root: Path, parts: tuple[str, ...], mode: int) -> LandedFile | Ignored:
    relative = "/".join(parts)
    levels, problem = _folder_levels(parts)
    kind = _kind(mode)
    if kind:
        return Ignored(relative, "refused", kind, f"{relative} {_SPECIAL[kind]}", **levels)
    if problem:
        return Ignored(relative, "ignored", problem[0], f"{relative}: {problem[1]}", **levels)
    if len(parts) != 5:
        return Ignored(relative, "ignored", "unexpected_location",
                       f"{relative}: files belong in <source>/<ODS>/<YYYY-MM>/<submission>/", **levels)
    path = root.joinpath(*parts)
    if not os.path.realpath(path).startswith(str(root) + os.sep):
        return Ignored(relative, "refused", "outside_landing", f"{relative} resolves outside the landing area",
                       **levels)
    suffix = Path(parts[-1]).suffix.lower()
    stem = Path(parts[-1]).stem
    if suffix not in _FORMATS:
        return Ignored(relative, "ignored", "wrong_file_type",
                       f"{relative}: {suffix or 'no extension'} is not a delivery format (.csv or .parquet)",
                       **levels)
    spec = source_tables(parts[0]).get(stem.lower())
    return LandedFile(source=parts[0], provider_ods=parts[1], reporting_month=parts[2], submission_id=parts[3],
                      table_name=spec.name if spec else stem, spec=spec, path=path, source_file=relative,
                      format=_FORMATS[suffix], root=root)


def _one_file_per_table(files: list[LandedFile]) -> tuple[list[LandedFile], list[Ignored]]:
    """One file per table and submission: the CSV before the Parquet, then the first by name."""
    chosen: dict[tuple[Path, str], LandedFile] = {}
    extra: list[Ignored] = []
    order = sorted(files, key=lambda f: (_FORMAT_PREFERENCE.index(f.format), f.source_file))
    for f in order:
        key = (f.path.parent, f.table_name.lower())
        if key not in chosen:
            chosen[key] = f
            continue
        kept = chosen[key]
        reason = "duplicate_format" if kept.format != f.format else "duplicate_file"
        extra.append(Ignored(f.source_file, "ignored", reason,
                             f"{f.source_file}: table {f.table_name} is also delivered as {kept.path.name} in this "
                             f"submission; {kept.path.name} is staged", f.source, f.provider_ods,
                             f.reporting_month, f.submission_id, f.table_name if f.spec else None))
    return sorted(chosen.values(), key=lambda f: f.source_file), extra


def scan(landing: Path) -> Scan:
    """Every file of the landing area: the ones to stage and the ones ignored or refused, with why.

    `<landing>/reference/` holds reference data, not deliveries, and is not scanned here.
    """
    root = Path(os.path.realpath(landing))
    files: list[LandedFile] = []
    ignored: list[Ignored] = []
    if not root.is_dir():
        return Scan(files, ignored)
    for parts, mode in _entries(root):
        if parts[0] in _NOT_DELIVERIES and len(parts) > 1:
            continue
        item = _classify(root, parts, mode)
        (files if isinstance(item, LandedFile) else ignored).append(item)
    files, duplicates = _one_file_per_table(files)
    return Scan(files, sorted(ignored + duplicates, key=lambda i: i.source_file))


def discover(landing: Path, months: list[str] | None = None) -> tuple[list[LandedFile], list[Ignored]]:
    """Files to stage (sorted by path) and what is not staged, restricted to `months` when given.

    With `months`, an ignored entry belongs to its month when that month has files to stage; any
    other entry (no valid month, or a month with nothing to stage) is reported with the earliest
    month of the landing area, so that staging month by month and consolidating reports each entry
    exactly once.
    """
    found = scan(landing)
    if months is None:
        return found.files, found.ignored
    return restrict(found, months)


def restrict(found: Scan, months: list[str]) -> tuple[list[LandedFile], list[Ignored]]:
    """`discover(landing, months)` from a scan already made (several months, one walk)."""
    staged_months = set(found.months)
    first = found.months[0] if found.months else None
    files = [f for f in found.files if f.reporting_month in months]
    ignored = [i for i in found.ignored
               if (i.reporting_month if i.reporting_month in staged_months else first) in months]
    return files, ignored


def delivery_folders(landing: Path) -> list[str]:
    """Every `<source>/<ODS>/<YYYY-MM>/<submission>` folder holding a file to stage, sorted."""
    return sorted({str(Path(f.source_file).parent) for f in scan(landing).files})


def delivery_months(landing: Path) -> dict[str, list[str]]:
    """Reporting month -> its delivery folders (`<source>/<ODS>/<YYYY-MM>/<submission>`, sorted) that
    hold a file to stage: only valid months inside the accepted range, through the same boundary
    checks as staging (the landing sensor, the schedule and the CLI's up-front check use it). An
    absent landing area has no months."""
    if not Path(landing).is_dir():
        return {}
    months: dict[str, list[str]] = {}
    for folder in delivery_folders(landing):
        months.setdefault(Path(folder).parts[2], []).append(Path(folder).as_posix())
    return dict(sorted(months.items()))


def latest_submissions(files: list[LandedFile]) -> dict[tuple[str, str, str], str]:
    """(source, provider, month) -> the latest submission id (ids sort in time order)."""
    latest: dict[tuple[str, str, str], str] = {}
    for f in files:
        latest[f.delivery] = max(latest.get(f.delivery, f.submission_id), f.submission_id)
    return latest


# ---------------------------------------------------------------- reading a landed file safely

_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_FILE_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def open_landed(landed: LandedFile) -> int:
    """A file descriptor on the landed file, opened folder by folder from the landing root without
    following a link at any level (a folder or file swapped for a link after the scan is refused).
    Raises OSError for anything that is not a regular file."""
    root = landed.root or Path(os.path.realpath(landed.path.parents[4]))
    parts = landed.source_file.split("/")
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts[:-1]:
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
        file_fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(file_fd).st_mode):
        os.close(file_fd)
        raise OSError(f"{landed.source_file} is not a regular file")
    return file_fd


def read_landed(landed: LandedFile) -> bytes:
    """The bytes of a landed file, read through `open_landed`."""
    fd = open_landed(landed)
    with os.fdopen(fd, "rb") as fh:
        return fh.read()
