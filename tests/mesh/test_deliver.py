"""`carebridge deliver` against NHS England's MESH sandbox: each organisation's bundles arrive in its
mailbox byte for byte, the delivery log records the message ids, re-delivery sends only what
changed, organisations without a mailbox are reported, and MESH's refusals stop delivery."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from carebridge.mesh import MeshConfigError, load_mesh_config, read_delivery_log

PASSWORD_ENV = "CB_TEST_MESH_PASSWORD"
KEY_ENV = "CB_TEST_MESH_SHARED_KEY"


def _bundles(out: Path) -> dict[tuple[str, str], bytes]:
    root = out / "fhir" / "bundles"
    found = {}
    for path in sorted(root.rglob("*.json")):
        ods = path.relative_to(root).parts[0]
        found[(ods, path.relative_to(root / ods).as_posix())] = path.read_bytes()
    return found


@pytest.fixture(scope="module")
def mesh_mailboxes(duckdb_run) -> dict[str, str]:
    """A sandbox mailbox for every organisation with bundles in the shared run."""
    return {p.name: f"MB{p.name}" for p in sorted((duckdb_run.out / "fhir" / "bundles").iterdir()) if p.is_dir()}


@pytest.fixture()
def out(duckdb_run, tmp_path: Path) -> Path:
    """A private copy of the shared run's bundles (delivery writes its log beside them)."""
    target = tmp_path / "out"
    shutil.copytree(duckdb_run.out / "fhir" / "bundles", target / "fhir" / "bundles")
    return target


def write_config(tmp_path: Path, sandbox, mailboxes: dict[str, str], sender: str = "CBRIDGE01") -> Path:
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump({
        "url": sandbox.url, "mailbox": sender, "password_env": PASSWORD_ENV, "shared_key_env": KEY_ENV,
        "workflow_id": "CAREBRIDGE_FHIR_BUNDLE", "compress": True, "mailboxes": mailboxes}))
    return path


def deliver(out: Path, config: Path, sandbox, password: str = "password") -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("carebridge")
    env = {**os.environ, PASSWORD_ENV: password, KEY_ENV: sandbox.shared_key}
    return subprocess.run([str(exe), "deliver", "--out", str(out), "--mesh-config", str(config)],
                          capture_output=True, text=True, env=env, timeout=300)


def inbox(sandbox, mailbox: str) -> dict[str, tuple[object, bytes]]:
    """message id -> (message, bytes) of everything in a mailbox's inbox (read, not acknowledged)."""
    found = {}
    with sandbox.client(mailbox) as client:
        for message_id in client.list_messages():
            message = client.retrieve_message(message_id)
            found[message_id] = (message, message.read())
            message.close()
    return found


def test_each_organisation_receives_exactly_its_bundles(mesh_sandbox, out, tmp_path, record_property) -> None:
    config = write_config(tmp_path, mesh_sandbox, mesh_sandbox.mailboxes)
    done = deliver(out, config, mesh_sandbox)
    assert done.returncode == 0, done.stderr
    bundles = _bundles(out)
    log = read_delivery_log(out)
    assert len(log) == len(bundles) and {(r["ods"], r["bundle"]) for r in log} == set(bundles)
    assert len({r["message_id"] for r in log}) == len(log)
    by_id = {r["message_id"]: r for r in log}
    for ods, mailbox in mesh_sandbox.mailboxes.items():
        received = inbox(mesh_sandbox, mailbox)
        expected = {rel: data for (o, rel), data in bundles.items() if o == ods}
        assert len(received) == len(expected), ods
        for message_id, (message, data) in received.items():
            row = by_id[message_id]
            assert row["ods"] == ods and row["mailbox"] == mailbox
            assert data == expected[row["bundle"]], f"{ods}/{row['bundle']} arrived changed"
            assert message.sender == "CBRIDGE01" and message.workflow_id == "CAREBRIDGE_FHIR_BUNDLE"
            assert message.local_id.startswith(f"{ods}/{row['bundle']}@")
            assert json.loads(data)["resourceType"] == "Bundle"
    # the sandbox kept them in its file store, under the temporary folder
    assert any((mesh_sandbox.store / next(iter(mesh_sandbox.mailboxes.values())) / "in").iterdir())
    record_property("figure: bundles delivered by MESH", len(log))


def test_redelivery_sends_only_new_or_changed_bundles(mesh_sandbox, out, tmp_path) -> None:
    first_ods = sorted(mesh_sandbox.mailboxes)[0]
    only = {first_ods: mesh_sandbox.mailboxes[first_ods]}
    config = write_config(tmp_path, mesh_sandbox, only)
    before = len(inbox(mesh_sandbox, only[first_ods]))
    assert deliver(out, config, mesh_sandbox).returncode in (0, 1)
    sent = len(read_delivery_log(out))
    again = deliver(out, config, mesh_sandbox)
    assert f"sent 0 bundles by MESH; {sent} already delivered unchanged" in again.stdout
    assert len(read_delivery_log(out)) == sent
    changed = sorted((out / "fhir" / "bundles" / first_ods).rglob("*.json"))[0]
    bundle = json.loads(changed.read_text())
    bundle["entry"] = bundle["entry"][:1]
    changed.write_text(json.dumps(bundle))
    third = deliver(out, config, mesh_sandbox)
    assert "sent 1 bundles by MESH" in third.stdout
    log = read_delivery_log(out)
    assert len(log) == sent + 1
    assert log[-1]["bundle"] == changed.relative_to(out / "fhir" / "bundles" / first_ods).as_posix()
    received = inbox(mesh_sandbox, only[first_ods])
    assert len(received) == before + sent + 1
    assert received[log[-1]["message_id"]][1] == changed.read_bytes()


def test_organisations_without_a_mailbox_are_reported(mesh_sandbox, out, tmp_path) -> None:
    orgs = sorted(mesh_sandbox.mailboxes)
    config = write_config(tmp_path, mesh_sandbox, {orgs[0]: mesh_sandbox.mailboxes[orgs[0]]})
    done = deliver(out, config, mesh_sandbox)
    assert done.returncode == 1
    assert all(ods in done.stderr for ods in orgs[1:]) and orgs[0] not in done.stderr
    assert {r["ods"] for r in read_delivery_log(out)} == {orgs[0]}


def test_mesh_refusal_stops_delivery_and_logs_nothing(mesh_sandbox, out, tmp_path) -> None:
    config = write_config(tmp_path, mesh_sandbox, mesh_sandbox.mailboxes)
    refused = deliver(out, config, mesh_sandbox, password="wrong")
    assert refused.returncode == 1 and "MESH delivery stopped" in refused.stderr
    assert read_delivery_log(out) == []


def test_configuration_errors_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump({"url": "http://127.0.0.1:1", "mailbox": "CBRIDGE01", "password": "secret",
                                    "password_env": "X", "workflow_id": "W", "mailboxes": {"RZZ": "MBRZZ"}}))
    with pytest.raises(MeshConfigError, match="environment variable"):
        load_mesh_config(path, environ={"X": "p"})
    path.write_text(yaml.safe_dump({"url": "http://127.0.0.1:1", "mailbox": "CBRIDGE01", "password_env": "X",
                                    "workflow_id": "W", "mailboxes": {"not an ods": "MBRZZ"}}))
    with pytest.raises(MeshConfigError, match="not an ODS code"):
        load_mesh_config(path, environ={"X": "p"})
    path.write_text(yaml.safe_dump({"url": "http://127.0.0.1:1", "mailbox": "CBRIDGE01", "password_env": "X",
                                    "workflow_id": "W", "mailboxes": {"RZZ": "MBRZZ"}}))
    with pytest.raises(MeshConfigError, match="password is not set"):
        load_mesh_config(path, environ={})
    assert load_mesh_config(path, environ={"X": "p"}).mailboxes == {"RZZ": "MBRZZ"}
