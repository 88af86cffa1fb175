"""The client registry's refusals, the status response while a job runs, and `_since` parsing."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import yaml
from joserfc.jwk import ECKey, RSAKey

from carebridge.serve.app import parse_since, status_response
from carebridge.serve.clients import RegistryError, load_registry
from carebridge.serve.jobs import Job


def _registry(tmp_path: Path, key: dict) -> Path:
    path = tmp_path / "clients.yaml"
    path.write_text(yaml.safe_dump({"clients": {"c1": {"ods": "RZZ", "jwks": {"keys": [key]}}}}))
    return path


def test_registry_accepts_public_rsa_and_p384_keys(tmp_path: Path) -> None:
    rsa = RSAKey.generate_key(2048, parameters={"kid": "a"})
    clients = load_registry(_registry(tmp_path, rsa.as_dict(private=False)))
    assert clients["c1"].ods == "RZZ"
    ec = ECKey.generate_key("P-384", parameters={"kid": "b"})
    assert load_registry(_registry(tmp_path, ec.as_dict(private=False)))["c1"].keys


@pytest.mark.parametrize("make, message", [
    (lambda: RSAKey.generate_key(2048).as_dict(private=True), "private key members"),
    (lambda: RSAKey.generate_key(1024, private=True, auto_kid=True).as_dict(private=False), "at least 2048"),
    (lambda: ECKey.generate_key("P-256").as_dict(private=False), "RS384 or ES384"),
])
def test_registry_refuses_unusable_keys(tmp_path: Path, make, message) -> None:
    with pytest.raises(RegistryError, match=message):
        load_registry(_registry(tmp_path, make()))


def test_registry_refuses_a_bad_ods_code_and_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "clients.yaml"
    key = ECKey.generate_key("P-384").as_dict(private=False)
    path.write_text(yaml.safe_dump({"clients": {"c1": {"ods": "not ods", "jwks": {"keys": [key]}}}}))
    with pytest.raises(RegistryError, match="ODS code"):
        load_registry(path)
    path.write_text(json.dumps({"clients": {}}))
    with pytest.raises(RegistryError, match="no clients"):
        load_registry(path)


def test_status_is_202_with_progress_until_the_job_finishes(tmp_path: Path) -> None:
    job = Job(id="j", client_id="c", ods="RZZ", request="https://x/Group/RZZ/$export", types=("Patient", "Goal"),
              since_month=None, transaction_time="2026-04-06T15:45:00Z", folder=tmp_path, cancelled=threading.Event())
    running = status_response(job)
    assert running.status_code == 202 and running.headers["X-Progress"] == "0/2 resource types written"
    job.finished = True
    done = status_response(job)
    assert done.status_code == 200
    assert json.loads(done.body)["requiresAccessToken"] is True
    job.error = "export failed: boom"
    assert status_response(job).status_code == 500


def test_since_is_a_fhir_instant_with_a_zone() -> None:
    assert parse_since("2025-06-30T23:30:00-01:00") == "2025-07"
    assert parse_since("2025-06-01T00:00:00Z") == "2025-06"
    for bad in ("2025-06-01", "2025-06-01T00:00:00", "yesterday"):
        with pytest.raises(ValueError):
            parse_since(bad)


# --- the token endpoint's checks, without a server ------------------------------------------------

def _authoriser(tmp_path: Path):
    from carebridge.serve.auth import Authoriser

    key = ECKey.generate_key("P-384", parameters={"kid": "k1"})
    clients = load_registry(_registry(tmp_path, key.as_dict(private=False)))
    now = [1_800_000_000.0]
    return Authoriser(clients, "https://cb.example/fhir/token", clock=lambda: now[0]), key, now


def _form(assertion: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "scope": "system/*.read", "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}


def _claims(now: float, **extra) -> dict:
    return {"iss": "c1", "sub": "c1", "aud": "https://cb.example/fhir/token", "exp": int(now) + 120,
            "jti": extra.pop("jti", "j1"), **extra}


def test_symmetric_and_unsigned_assertions_are_refused(tmp_path: Path) -> None:
    import base64

    from joserfc import jwt
    from joserfc.jwk import OctKey

    from carebridge.serve.auth import AuthError

    auth, key, now = _authoriser(tmp_path)
    secret = OctKey.import_key(json.dumps(key.as_dict(private=False)).encode())  # the public key as an HMAC secret
    forged = jwt.encode({"alg": "HS384", "kid": "k1"}, _claims(now[0]), secret, algorithms=["HS384"])
    header = base64.urlsafe_b64encode(b'{"alg":"none","kid":"k1"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(_claims(now[0], jti="j2")).encode()).rstrip(b"=").decode()
    for assertion in (forged, f"{header}.{body}."):
        with pytest.raises(AuthError) as refused:
            auth.token(_form(assertion))
        assert refused.value.error == "invalid_client"


def test_a_used_jti_is_refused_while_it_could_be_valid_and_tokens_expire(tmp_path: Path) -> None:
    from joserfc import jwt

    from carebridge.serve.auth import TOKEN_SECONDS, AuthError

    auth, key, now = _authoriser(tmp_path)
    sign = lambda claims: jwt.encode({"alg": "ES384", "kid": "k1"}, claims, key, algorithms=["ES384"])  # noqa: E731
    granted = auth.token(_form(sign(_claims(now[0]))))
    assert auth.grant(f"Bearer {granted['access_token']}").ods == "RZZ"
    with pytest.raises(AuthError, match="already used"):
        auth.token(_form(sign(_claims(now[0]))))
    with pytest.raises(AuthError):
        auth.token(_form(sign({k: v for k, v in _claims(now[0], jti="j9").items() if k != "exp"})))  # no exp
    now[0] += TOKEN_SECONDS + 1
    assert auth.grant(f"Bearer {granted['access_token']}") is None


def test_serve_command_says_what_is_missing(tmp_path: Path) -> None:
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("carebridge")
    no_clients = subprocess.run([str(exe), "serve", "--out", str(tmp_path)], capture_output=True, text=True,
                                env={"PATH": "/usr/bin:/bin"}, timeout=120)
    assert no_clients.returncode == 1 and "--clients" in no_clients.stderr
    key = ECKey.generate_key("P-384").as_dict(private=False)
    registry = _registry(tmp_path, key)
    no_export = subprocess.run([str(exe), "serve", "--out", str(tmp_path), "--clients", str(registry)],
                               capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=120)
    assert no_export.returncode == 1 and "manifest.json not found" in no_export.stderr
    assert len(no_export.stderr.strip().splitlines()) == 1


def test_finished_jobs_expire_with_their_files(tmp_path: Path) -> None:
    import time

    from carebridge.serve.jobs import JobQueue
    from carebridge.serve.store import Served

    folder = tmp_path / "ndjson"
    folder.mkdir()
    (folder / "Patient.ndjson").write_text('{"id":"p1","resourceType":"Patient"}\n')
    served = Served(ndjson=folder, transaction_time="2026-04-06T15:45:00Z", types=("Patient",),
                    offsets={"Patient/p1": ("Patient.ndjson", 0)}, groups={"RZZ": {"Patient/p1": "2025-04"}})
    queue = JobQueue(served, tmp_path / "jobs", keep_seconds=0)
    start = dict(client_id="c", ods="RZZ", request="r", types=("Patient",), since_month=None,
                 file_url_of=lambda job_id: f"https://x/jobs/{job_id}")
    first = queue.start(**start)
    for _ in range(200):
        if first.finished:
            break
        time.sleep(0.01)
    assert (first.folder / "Patient.ndjson").read_bytes() == b'{"id":"p1","resourceType":"Patient"}\n'
    assert status_response(first).headers["Expires"].endswith("GMT")
    time.sleep(0.01)
    queue.start(**start)
    assert queue.get(first.id) is None and not first.folder.exists()
    queue.close()


def test_bundle_keys_read_every_entry_shape() -> None:
    from carebridge.serve.store import bundle_keys

    bundle = {"resourceType": "Bundle", "entry": [
        {"fullUrl": "https://x/fhir/Observation/o1", "resource": {"resourceType": "Observation", "id": "o1"},
         "request": {"method": "PUT", "url": "Observation/o1"}},
        {"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient"},
         "request": {"method": "PUT", "url": "Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919"}},
        {"request": {"method": "DELETE", "url": "Observation?identifier=s|v"}},
    ]}
    assert bundle_keys(bundle) == ["Observation/o1", "Patient/p1"]
