"""Partitions: staging runs per reporting month, keyed YYYY-MM like the landing folders."""

import dagster as dg

MONTHLY = dg.MonthlyPartitionsDefinition(start_date="2015-01", fmt="%Y-%m", end_offset=1)
