"""The static HTML report: charts of the `published` tables, self-contained and readable offline."""

from carebridge.report.page import build_report

__all__ = ["build_report"]
