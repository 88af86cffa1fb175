"""The MESH inbox sensor against the MESH sandbox: extracts sent to carebridge's mailbox land in the
landing area where the landing sensor finds them; a badly named message is set aside with a reason;
every message is acknowledged."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from carebridge.mesh.inbox import UNRECOGNISED, landing_path
from pipelines.mesh_inbox import mesh_inbox_sensor
from carebridge.staging.landing import delivery_folders

CSV = b"referral_id,patient_id\nR1,P1\n"


def test_landing_path_follows_the_extract_layout() -> None:
    assert landing_path("mhsds.RZZ.2025-04.20250407T0900.MHS101Referral.csv") == \
        Path("mhsds/RZZ/2025-04/20250407T0900/MHS101Referral.csv")
    assert landing_path("talking_therapies.RZY.2026-03.S1.referral.parquet").parts[0] == "talking_therapies"
    for bad in ("mhsds.RZZ.2025-13.S.t.csv", "x.RZZ.2025-04.S.t.csv", "mhsds/../../etc.RZZ.2025-04.S.t.csv",
                "mhsds.RZZ.2025-04.S.t.exe", None):
        with pytest.raises(ValueError):
            landing_path(bad)


def test_sensor_lands_extracts_from_carebridges_inbox(mesh_sandbox, tmp_path: Path, monkeypatch) -> None:
    sender = next(iter(mesh_sandbox.mailboxes.values()))
    with mesh_sandbox.client(sender) as trust:
        trust.send_message("CBRIDGE01", CSV, workflow_id="CAREBRIDGE_EXTRACT",
                           filename="mhsds.RZZ.2025-04.20250407T0900.MHS101Referral.csv")
        trust.send_message("CBRIDGE01", b"a,b\n1,2\n", workflow_id="CAREBRIDGE_EXTRACT", filename="referrals.csv")
    config = tmp_path / "mesh.yaml"
    config.write_text(yaml.safe_dump({"url": mesh_sandbox.url, "mailbox": "CBRIDGE01", "password_env": "CB_T_PW",
                                      "shared_key_env": "CB_T_KEY", "workflow_id": "CAREBRIDGE_FHIR_BUNDLE",
                                      "mailboxes": {"RZZ": "MBRZZ"}}))
    landing = tmp_path / "landing"
    monkeypatch.setenv("CAREBRIDGE_MESH_CONFIG", str(config))
    monkeypatch.setenv("CB_T_PW", "password")
    monkeypatch.setenv("CB_T_KEY", mesh_sandbox.shared_key)
    monkeypatch.setenv("CAREBRIDGE_LANDING", str(landing))
    monkeypatch.setenv("CAREBRIDGE_OUT", str(tmp_path / "out"))

    result = mesh_inbox_sensor(dg.build_sensor_context())
    assert isinstance(result, dg.SkipReason) and "landed 1 files" in result.skip_message
    assert (landing / "mhsds/RZZ/2025-04/20250407T0900/MHS101Referral.csv").read_bytes() == CSV
    assert delivery_folders(landing) == ["mhsds/RZZ/2025-04/20250407T0900"]
    aside = list((landing / UNRECOGNISED).iterdir())
    assert len(aside) == 1 and "is not <source>" in (aside[0] / "reason.txt").read_text()
    assert (aside[0] / "payload").read_bytes() == b"a,b\n1,2\n"
    with mesh_sandbox.client("CBRIDGE01") as own:
        assert own.list_messages() == [], "every message must be acknowledged"
    again = mesh_inbox_sensor(dg.build_sensor_context())
    assert "landed 0 files" in again.skip_message


def test_sensor_is_off_without_a_mesh_configuration(monkeypatch) -> None:
    monkeypatch.delenv("CAREBRIDGE_MESH_CONFIG", raising=False)
    assert "not set" in mesh_inbox_sensor(dg.build_sensor_context()).skip_message
