"""Dagster's project tooling works on the repository (`dg check defs`), and `carebridge ui` serves
the UI on the host and port asked for with run history in a DAGSTER_HOME under the output folder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.mark.skipif(not (BIN / "dg").exists(), reason="dg (dagster-dg-cli) is not installed")
def test_dg_check_defs_loads_the_project(tmp_path):
    env = {**os.environ, "VIRTUAL_ENV": sys.prefix, "CAREBRIDGE_LANDING": str(tmp_path / "landing"),
           "CAREBRIDGE_OUT": str(tmp_path / "out"), "DAGSTER_HOME": str(tmp_path / "home")}
    (tmp_path / "home").mkdir()
    done = subprocess.run([str(BIN / "dg"), "check", "defs"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "All definitions loaded successfully" in done.stdout + done.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_carebridge_ui_serves_on_the_port_asked_with_history_under_the_output_folder(tmp_path):
    port, out = _free_port(), tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    process = subprocess.Popen([sys.executable, "-m", "carebridge.cli", "ui", "--out", str(out), "--landing",
                                str(tmp_path / "landing"), "--host", "127.0.0.1", "--port", str(port)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        deadline, info = time.monotonic() + 420, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as response:
                    info = response.read().decode()
                    break
            except OSError:
                time.sleep(2)
        assert info is not None, f"no UI on port {port}: rc={process.poll()}"
        assert "dagster_webserver_version" in info
        home = out / ".dagster"
        assert (home / "dagster.yaml").read_text() == (ROOT / "pipelines" / "dagster.yaml").read_text()
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert [p for p in home.iterdir() if p.name != "dagster.yaml"], "no run storage in DAGSTER_HOME"
    shutil.rmtree(out, ignore_errors=True)
