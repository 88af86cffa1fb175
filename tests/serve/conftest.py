"""A real `carebridge serve` (uvicorn, 127.0.0.1, a free port) over the shared pipeline run, with
two registered clients of different organisations (one RSA key, one EC P-384 key) and one
unregistered key, and a helper that signs client assertions the way a trust's system would."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class TrustClient:
    client_id: str
    ods: str
    key: RSAKey | ECKey
    alg: str


@dataclass
class BulkServer:
    base: str
    out: Path
    clients: dict[str, TrustClient]
    stranger: TrustClient   # a key nobody registered, claiming to be the first client

    def assertion(self, client: TrustClient, *, exp_in: int = 240, jti: str | None = None, aud: str | None = None,
                  key: RSAKey | ECKey | None = None, alg: str | None = None) -> str:
        now = int(time.time())
        claims = {"iss": client.client_id, "sub": client.client_id, "aud": aud or f"{self.base}/token",
                  "exp": now + exp_in, "jti": jti or uuid.uuid4().hex}
        signer = key or client.key
        alg = alg or client.alg
        header = {"alg": alg, "typ": "JWT", "kid": signer.kid}
        return jwt.encode(header, claims, signer, algorithms=[alg])

    def token_request(self, http: httpx.Client, assertion: str, scope: str = "system/*.read") -> httpx.Response:
        return http.post(f"{self.base}/token", data={
            "grant_type": "client_credentials", "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion})

    def token(self, http: httpx.Client, client: TrustClient) -> str:
        response = self.token_request(http, self.assertion(client))
        assert response.status_code == 200, response.text
        return response.json()["access_token"]


def _organisations_with_bundles(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "fhir" / "bundles").iterdir() if p.is_dir() and any(p.rglob("*.json")))


@pytest.fixture(scope="module")
def bulk_server(duckdb_run, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("serve")
    orgs = _organisations_with_bundles(duckdb_run.out)
    # ODS conventions: NHS trusts have 3-character codes starting with R, GP practices a letter and 5 digits.
    trust = next(o for o in orgs if re.fullmatch(r"R[A-Z0-9]{2}", o))
    practice = next(o for o in orgs if re.fullmatch(r"[A-Z]\d{5}", o))
    rsa = RSAKey.generate_key(2048, parameters={"kid": "trust-key-1"})
    ec = ECKey.generate_key("P-384", parameters={"kid": "practice-key-1"})
    admin = ECKey.generate_key("P-384", parameters={"kid": "system-key-1"})
    clients = {"trust": TrustClient("trust-ehr", trust, rsa, "RS384"),
               "practice": TrustClient("practice-gp", practice, ec, "ES384"),
               "system": TrustClient("carebridge-ops", "*", admin, "ES384")}
    (folder / "keys").mkdir()
    (folder / "keys" / "trust.jwks.json").write_text(json.dumps({"keys": [rsa.as_dict(private=False)]}))
    registry = {"clients": {
        "trust-ehr": {"ods": trust, "jwks_file": "keys/trust.jwks.json"},
        "practice-gp": {"ods": practice, "jwks": {"keys": [ec.as_dict(private=False)]}},
        "carebridge-ops": {"system": True, "jwks": {"keys": [admin.as_dict(private=False)]}},
    }}
    (folder / "clients.yaml").write_text(yaml.safe_dump(registry))
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    exe = Path(sys.executable).with_name("carebridge")
    log = open(folder / "server.log", "w")
    proc = subprocess.Popen([str(exe), "serve", "--out", str(duckdb_run.out), "--clients", str(folder / "clients.yaml"),
                             "--host", "127.0.0.1", "--port", str(port), "--base-url", base,
                             "--work-dir", str(folder / "work"), "--log-level", "warning"],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/metadata", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"carebridge serve did not start: {(folder / 'server.log').read_text()}")
            time.sleep(0.2)
        stranger = TrustClient("trust-ehr", trust, RSAKey.generate_key(2048, parameters={"kid": "trust-key-1"}),
                               "RS384")
        yield BulkServer(base=base, out=duckdb_run.out, clients=clients, stranger=stranger)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
