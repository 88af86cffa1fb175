"""The MESH configuration file: carebridge's own mailbox and each organisation's mailbox by ODS code.

    # mesh.yaml (docs/trusts.md; keep it out of the repository and the output folder)
    url: https://mesh-sync.spineservices.nhs.uk   # MESH endpoint (INT: https://msg.intspineservices.nhs.uk)
    mailbox: X26ABC1                    # carebridge's own MESH mailbox, the sender
    password_env: CAREBRIDGE_MESH_PASSWORD   # its password is read from this environment variable
    shared_key_env: MESH_CLIENT_SHARED_KEY   # the MESH environment's shared key (env variable name)
    cert: /etc/carebridge/mesh/client.crt    # client certificate and key for MESH's mutual TLS
    key: /etc/carebridge/mesh/client.key
    ca: /etc/carebridge/mesh/ca.pem          # optional: CA bundle to verify MESH (default: mesh-client's)
    workflow_id: CAREBRIDGE_FHIR_BUNDLE      # the MESH workflow the bundles travel under
    compress: true                           # gzip in transit (mesh-client; the receiver's client inflates)
    mailboxes:                               # recipient ODS code -> its MESH mailbox id
      RZZ: X26ABC2
      Z90001: X26ABC3

Secrets (the mailbox password, the shared key) never sit in the file: it names the environment
variables that hold them. Relative certificate paths are relative to the file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

__all__ = ["MeshConfig", "MeshConfigError", "load_mesh_config"]

_ODS = re.compile(r"^[A-Z0-9]{3,10}$")
_MAILBOX = re.compile(r"^[A-Z0-9]{4,20}$")


class MeshConfigError(ValueError):
    """The MESH configuration is unusable (the message says which setting and why)."""


@dataclass(frozen=True)
class MeshConfig:
    url: str
    mailbox: str
    password: str = field(repr=False)
    shared_key: bytes | None = field(repr=False)
    workflow_id: str
    mailboxes: dict[str, str]            # ODS -> mailbox id
    cert: tuple[str, str] | None = None
    ca: str | None = None
    compress: bool = True


def _path(base: Path, value: str | None) -> str | None:
    return str((base / value).resolve()) if value else None


def load_mesh_config(path: Path, environ: dict[str, str] | None = None) -> MeshConfig:
    env = os.environ if environ is None else environ
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise MeshConfigError(f"cannot read the MESH configuration {path}: {exc}") from exc
    for name in ("url", "mailbox", "password_env", "workflow_id", "mailboxes"):
        if not data.get(name):
            raise MeshConfigError(f"{path}: `{name}` is required")
    if "password" in data:
        raise MeshConfigError(f"{path}: put the mailbox password in an environment variable named by "
                              "`password_env`, not in the file")
    password = env.get(str(data["password_env"]))
    if not password:
        raise MeshConfigError(f"the MESH mailbox password is not set: environment variable {data['password_env']}")
    shared_key = env.get(str(data.get("shared_key_env", "MESH_CLIENT_SHARED_KEY")))
    mailboxes = {str(ods): str(box).upper() for ods, box in (data["mailboxes"] or {}).items()}
    for ods, box in mailboxes.items():
        if not _ODS.match(ods) or not _MAILBOX.match(box):
            raise MeshConfigError(f"{path}: mailboxes: {ods!r} -> {box!r} is not an ODS code -> MESH mailbox id")
    sender = str(data["mailbox"]).upper()
    if not _MAILBOX.match(sender):
        raise MeshConfigError(f"{path}: mailbox {sender!r} is not a MESH mailbox id")
    cert, key = data.get("cert"), data.get("key")
    if bool(cert) != bool(key):
        raise MeshConfigError(f"{path}: give both `cert` and `key` (MESH's mutual TLS), or neither")
    return MeshConfig(url=str(data["url"]).rstrip("/"), mailbox=sender, password=password,
                      shared_key=shared_key.encode("utf-8") if shared_key else None,
                      workflow_id=str(data["workflow_id"]), mailboxes=mailboxes,
                      cert=(_path(path.parent, cert), _path(path.parent, key)) if cert else None,
                      ca=_path(path.parent, data.get("ca")), compress=bool(data.get("compress", True)))
