"""NHS England's MESH sandbox (`mesh-sandbox`), started on 127.0.0.1 with a free port for the test
module: file store in a temporary folder, full authentication (the HMAC token mesh-client computes
from each mailbox's password and a shared key chosen here), one mailbox for carebridge and one per
organisation (`mesh_mailboxes`)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

SANDBOX_PASSWORD = "password"  # mesh-sandbox gives every mailbox made from a folder this password
SENDER = "CBRIDGE01"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Sandbox:
    url: str
    store: Path
    shared_key: str
    mailboxes: dict[str, str]  # ODS -> mailbox id

    def client(self, mailbox: str, password: str = SANDBOX_PASSWORD):
        from mesh_client import MeshClient

        return MeshClient(self.url, mailbox, password, shared_key=self.shared_key.encode(), max_retries=0)


@pytest.fixture(scope="module")
def mesh_mailboxes() -> dict[str, str]:
    """ODS -> mailbox made in the sandbox (a test module overrides it with its organisations)."""
    return {"RZZ": "MBRZZ", "Z90001": "MBZ90001"}


@pytest.fixture(scope="module")
def mesh_sandbox(mesh_mailboxes: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("mesh")
    store = folder / "store"
    mailboxes = dict(mesh_mailboxes)
    for mailbox in [SENDER, *mailboxes.values()]:
        (store / mailbox / "in").mkdir(parents=True)
    port = _free_port()
    shared_key = secrets.token_hex(8)
    env = {**os.environ, "STORE_MODE": "file", "MAILBOXES_DATA_DIR": str(store), "AUTH_MODE": "full",
           "SHARED_KEY": shared_key, "ENV": "local"}
    log = open(folder / "sandbox.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "mesh_sandbox.api:app", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "1", "--log-level", "warning"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mesh-sandbox did not start: {(folder / 'sandbox.log').read_text()}")
            time.sleep(0.2)
        yield Sandbox(url=url, store=store, shared_key=shared_key, mailboxes=mailboxes)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
