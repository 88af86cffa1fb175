"""Fixtures for the staging tests: tiny landing areas written by the tests themselves.

Layout: <landing>/<source>/<ODS>/<YYYY-MM>/<submission>/<table>.csv (or .parquet). The `landing`
fixture writes files and builds valid rows (`landing.patient(...)`, `landing.referral(...)`).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

PATIENT_HEADER = ["patient_id", "nhs_number", "given_name", "family_name", "birth_date", "sex", "ethnic_category",
                  "postcode", "lsoa_code", "registration_start", "registration_end", "type1_objection"]
REFERRAL_HEADER = ["ServiceRequestId", "LocalPatientId", "SourceOfReferralMH", "ReferralRequestReceivedDate",
                   "ServTeamTypeRefToMH", "ServDischDate"]


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    """Comma-joined lines with a trailing newline (no quoting: tests pass quoted text themselves)."""
    return "".join(",".join(line) + "\n" for line in [header, *rows])


def _row(header: list[str], defaults: list[str], changes: dict[str, str]) -> list[str]:
    row = dict(zip(header, defaults)) | changes
    return [row[c] for c in header]


class Landing:
    PATIENT_HEADER = PATIENT_HEADER
    REFERRAL_HEADER = REFERRAL_HEADER

    def __init__(self, root: Path):
        self.root = root

    @staticmethod
    def patient(pid: str, nhs: str = "9434765919", **changes: str) -> list[str]:
        """A valid GP patient row (PATIENT_HEADER order) with optional changes."""
        values = [pid, nhs, "Ann", "Smith", "1980-05-01", "F", "A", "LS1 1AA", "E01000001", "2010-01-01", "", "false"]
        return _row(PATIENT_HEADER, values, changes)

    @staticmethod
    def referral(rid: str, **changes: str) -> list[str]:
        """A valid MHS101Referral row (REFERRAL_HEADER order) with optional changes."""
        return _row(REFERRAL_HEADER, [rid, "P1", "A1", "2024-01-03", "A06", ""], changes)

    def folder(self, source: str, month: str, submission: str = "20240105T0900", ods: str = "ODS1") -> Path:
        path = self.root / source / ods / month / submission
        path.mkdir(parents=True, exist_ok=True)
        return path

    def csv(self, source: str, table: str, header: list[str], rows: list[list[str]], *, month: str = "2024-01",
            submission: str = "20240105T0900", ods: str = "ODS1", encoding: str = "utf-8",
            text: str | None = None, prefix: bytes = b"") -> Path:
        path = self.folder(source, month, submission, ods) / f"{table}.csv"
        path.write_bytes(prefix + (text if text is not None else csv_text(header, rows)).encode(encoding))
        return path

    def parquet(self, source: str, table: str, columns: dict[str, list], *, month: str = "2024-01",
                submission: str = "20240105T0900", ods: str = "ODS1") -> Path:
        path = self.folder(source, month, submission, ods) / f"{table}.parquet"
        pq.write_table(pa.table(columns), path)
        return path


@pytest.fixture
def landing(tmp_path: Path) -> Landing:
    return Landing(tmp_path / "landing")


@pytest.fixture(scope="session")
def landing_class() -> type[Landing]:
    """The Landing helper itself, for tests (such as hypothesis ones) that make many landing areas."""
    return Landing
