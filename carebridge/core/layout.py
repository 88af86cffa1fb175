"""Where files live, each layout defined once.

The landing layout (extracts.md): `<landing>/<source>/<ODS>/<YYYY-MM>/<submission>/<table>.<ext>`,
one folder per source, provider, reporting month and submission. `<landing>/reference/` holds the
deployment's reference data and is not a delivery.

The output layout: what one run writes under its output folder (`OutputLayout`). Staging,
FHIR, Data Docs and the report ask it for their folders; nothing else spells a path under `out/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SOURCES", "REFERENCE_DIR", "MONTH_PATTERN", "DeliveryPath", "parse_delivery_path",
           "OutputLayout"]

SOURCES: tuple[str, ...] = ("gp", "mhsds", "talking_therapies", "vcse")
REFERENCE_DIR = "reference"
MONTH_PATTERN = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_DEPTH = 5  # source / ODS / month / submission / table file


@dataclass(frozen=True)
class DeliveryPath:
    """The parts of one landed file's path, relative to the landing area."""

    source: str
    provider_ods: str
    reporting_month: str
    submission_id: str
    file_name: str


def parse_delivery_path(relative: Path) -> DeliveryPath | None:
    """The parts of `<source>/<ODS>/<YYYY-MM>/<submission>/<file>`, or None for a path of another shape,
    an unknown source or a malformed month."""
    parts = Path(relative).parts
    if len(parts) != _DEPTH:
        return None
    source, ods, month, submission, name = parts
    if source not in SOURCES or not MONTH_PATTERN.match(month):
        return None
    return DeliveryPath(source, ods, month, submission, name)


@dataclass(frozen=True)
class OutputLayout:
    """The folders and files of one output folder."""

    root: Path

    @property
    def warehouse_file(self) -> Path:
        """The default DuckDB warehouse."""
        return self.root / "warehouse.duckdb"

    @property
    def staging_months(self) -> Path:
        """One folder per staged reporting month (Parquet), consolidated by the `staged` asset."""
        return self.root / "staging" / "months"

    def staging_month(self, month: str) -> Path:
        return self.staging_months / month

    @property
    def fhir(self) -> Path:
        return self.root / "fhir"

    @property
    def fhir_ndjson(self) -> Path:
        """The FHIR Bulk Data export (manifest.json and one NDJSON file per type)."""
        return self.fhir / "ndjson"

    @property
    def fhir_bundles(self) -> Path:
        """One transaction Bundle per organisation and month: `<ODS>/<YYYY-MM>.json`."""
        return self.fhir / "bundles"

    def fhir_work(self, step: str) -> Path:
        """Scratch space of one FHIR step (`export`, `bundles`), removed when the step ends."""
        return self.fhir / ".work" / step

    @property
    def gx(self) -> Path:
        """The Great Expectations context of the run's validations."""
        return self.root / "gx"

    @property
    def data_docs(self) -> Path:
        return self.root / "data_docs"

    @property
    def data_docs_index(self) -> Path:
        return self.data_docs / "index.html"

    @property
    def linkage_charts(self) -> Path:
        """Splink's model charts, beside the Data Docs."""
        return self.data_docs / "linkage"

    @property
    def report(self) -> Path:
        return self.root / "report"
