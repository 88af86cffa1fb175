"""Delivery of each organisation's bundles to its MESH mailbox, with NHS England's `mesh-client`.

Every file under `<out>/fhir/bundles/<ODS>/` (in path order, so months and parts go in order) is
sent as one MESH message from carebridge's mailbox to the mailbox the configuration names for that
ODS code, under the configured workflow id, with the MESH file name `<ODS>_<path>` and a local id
`<ODS>/<path>@<sha256 prefix>` the receiver can deduplicate on.

The delivery log is `<out>/mesh/delivery_log.jsonl`: one JSON line per message sent (when, ODS,
mailbox, bundle path, SHA-256 and size of the bytes sent, MESH message id), appended and flushed
to disk after each send. It makes delivery idempotent: a bundle whose (ODS, mailbox, path, SHA-256)
is already logged is not sent again, so re-running `carebridge deliver` after a pipeline re-run
sends only new or changed bundles. If the process dies between MESH accepting a message and the
log line being written, that one bundle is sent again next time (same local id): at-least-once.
Organisations with bundles but no mailbox are reported, never skipped silently.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from carebridge.mesh.config import MeshConfig

__all__ = ["Delivery", "deliver_bundles", "delivery_log_path", "read_delivery_log", "pending_bundles", "mesh_client"]


@dataclass
class Delivery:
    sent: list[dict[str, Any]] = field(default_factory=list)        # log rows written by this run
    already: int = 0                                                 # bundles delivered before, unchanged
    no_mailbox: dict[str, int] = field(default_factory=dict)         # ODS -> bundles with nowhere to go


def delivery_log_path(out_dir: Path) -> Path:
    return Path(out_dir) / "mesh" / "delivery_log.jsonl"


def read_delivery_log(out_dir: Path) -> list[dict[str, Any]]:
    path = delivery_log_path(out_dir)
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _bundle_files(out_dir: Path) -> Iterator[tuple[str, str, Path]]:
    """(ODS, path relative to the organisation's folder, file) of every bundle, in order."""
    root = Path(out_dir) / "fhir" / "bundles"
    if not root.is_dir():
        return
    for org in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(org.rglob("*.json")):
            yield org.name, path.relative_to(org).as_posix(), path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pending_bundles(out_dir: Path, config: MeshConfig) -> tuple[list[tuple[str, str, Path, str]], Delivery]:
    """The bundles to send: (ODS, relative path, file, sha256), and what is not to be sent."""
    done = {(r["ods"], r["mailbox"], r["bundle"], r["sha256"]) for r in read_delivery_log(out_dir)}
    todo, result = [], Delivery()
    for ods, rel, path in _bundle_files(out_dir):
        mailbox = config.mailboxes.get(ods)
        if mailbox is None:
            result.no_mailbox[ods] = result.no_mailbox.get(ods, 0) + 1
            continue
        digest = _sha256(path)
        if (ods, mailbox, rel, digest) in done:
            result.already += 1
        else:
            todo.append((ods, rel, path, digest))
    return todo, result


def mesh_client(config: MeshConfig):
    """A `mesh_client.MeshClient` for carebridge's own mailbox."""
    from mesh_client import MeshClient

    return MeshClient(config.url, config.mailbox, config.password, shared_key=config.shared_key,
                      cert=config.cert, verify=config.ca, transparent_compress=config.compress,
                      application_name="carebridge")


def _append(log: Path, row: dict[str, Any]) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def deliver_bundles(out_dir: Path, config: MeshConfig, client=None,
                    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                    reporter: Callable[[str], None] = lambda _: None) -> Delivery:
    """Send every bundle not yet delivered with the same content; returns what was done."""
    todo, result = pending_bundles(out_dir, config)
    if not todo:
        return result
    log = delivery_log_path(out_dir)
    own = client is None
    client = client or mesh_client(config)
    try:
        for ods, rel, path, _ in todo:
            mailbox = config.mailboxes[ods]
            data = path.read_bytes()  # one bundle in memory at a time; the log hashes what was sent
            digest = hashlib.sha256(data).hexdigest()
            message_id = client.send_message(
                mailbox, data, workflow_id=config.workflow_id, filename=f"{ods}_{rel.replace('/', '_')}",
                local_id=f"{ods}/{rel}@{digest[:16]}", subject=f"carebridge FHIR bundle {ods} {rel}",
                content_type="application/fhir+json")
            row = {"delivered_at": clock().isoformat(timespec="seconds"), "ods": ods, "mailbox": mailbox,
                   "bundle": rel, "sha256": digest, "bytes": len(data), "message_id": message_id,
                   "workflow_id": config.workflow_id, "sender": config.mailbox}
            _append(log, row)
            result.sent.append(row)
            reporter(f"sent {ods}/{rel} to {mailbox}: {message_id}")
    finally:
        if own:
            client.close()
    return result
