"""`carebridge ask` on the PostgreSQL warehouse of a real run: read-only transactions, JSON out."""

from __future__ import annotations

import json

from carebridge.cli import main


def test_ask_reads_a_postgresql_warehouse(postgres_run, capsys):
    assert main(["ask", "q05", "--warehouse", postgres_run.warehouse_url, "--format", "json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer and {"transition", "people", "moves", "pct_seen"} <= set(answer[0])
