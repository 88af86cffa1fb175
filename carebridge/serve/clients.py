"""The registry of SMART Backend Services clients: client_id -> organisation (ODS code) -> public keys.

A YAML file (docs/trusts.md shows how a trust registers):

    clients:
      rzz-integration:              # the client_id the trust puts in `iss` and `sub`
        ods: RZZ                    # the organisation whose group it may export
        jwks_file: keys/rzz.jwks.json   # its PUBLIC JWKS, relative to this file
      z90001-gp-system:
        ods: Z90001
        jwks: {keys: [{kty: EC, crv: P-384, kid: ..., x: ..., y: ...}]}   # or inline

Only public keys are accepted: a key with private members (`d`, `p`, `q`, ...) is refused, since
a registry holding a client's private key means the key has leaked. Each key must be usable with
RS384 (RSA, at least 2048 bits) or ES384 (EC P-384).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from joserfc.jwk import KeySet

__all__ = ["Client", "RegistryError", "load_registry", "ALGORITHMS", "SYSTEM"]

# The `ods` of a system client (`system: true` in the registry): it may run the system-level
# `$export` of everything the pipeline exported and fetch the file manifest's files.
SYSTEM = "*"

ALGORITHMS = ("RS384", "ES384")
_PRIVATE = {"d", "p", "q", "dp", "dq", "qi", "k"}
_ODS = re.compile(r"^[A-Z0-9]{3,10}$")


class RegistryError(ValueError):
    """The client registry file is unusable (the message names the client and the reason)."""


@dataclass(frozen=True)
class Client:
    client_id: str
    ods: str
    keys: KeySet


def _check_key(client_id: str, key: dict[str, Any]) -> None:
    private = sorted(_PRIVATE & set(key))
    if private:
        raise RegistryError(f"client {client_id!r}: its JWKS holds private key members {private}; "
                            "register the public key only")
    if key.get("kty") == "RSA":
        import base64

        n = key.get("n", "")
        bits = len(base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))) * 8
        if bits < 2048:
            raise RegistryError(f"client {client_id!r}: RSA key of {bits} bits; at least 2048 are needed")
    elif not (key.get("kty") == "EC" and key.get("crv") == "P-384"):
        raise RegistryError(f"client {client_id!r}: key type {key.get('kty')}/{key.get('crv')} cannot sign "
                            f"RS384 or ES384 (RSA or EC P-384 only)")


def _jwks(client_id: str, entry: dict[str, Any], base: Path) -> dict[str, Any]:
    if "jwks" in entry:
        return entry["jwks"]
    if "jwks_file" in entry:
        path = base / entry["jwks_file"]
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RegistryError(f"client {client_id!r}: cannot read its JWKS {path}: {exc}") from exc
    raise RegistryError(f"client {client_id!r}: give `jwks` or `jwks_file`")


def load_registry(path: Path) -> dict[str, Client]:
    """client_id -> Client, from the registry file; RegistryError on anything unusable."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RegistryError(f"cannot read the client registry {path}: {exc}") from exc
    clients: dict[str, Client] = {}
    for client_id, entry in (data.get("clients") or {}).items():
        system = (entry or {}).get("system") is True
        if system and "ods" in entry:
            raise RegistryError(f"client {client_id!r}: a system client (`system: true`) has no `ods`")
        ods = SYSTEM if system else str((entry or {}).get("ods", ""))
        if not system and not _ODS.match(ods):
            raise RegistryError(f"client {client_id!r}: `ods` must be an ODS code, not {ods!r}")
        jwks = _jwks(client_id, entry, path.parent)
        keys = jwks.get("keys") if isinstance(jwks, dict) else None
        if not keys:
            raise RegistryError(f"client {client_id!r}: its JWKS has no keys")
        for key in keys:
            _check_key(client_id, key)
        try:
            clients[str(client_id)] = Client(str(client_id), ods, KeySet.import_key_set(jwks))
        except Exception as exc:  # joserfc raises several types for malformed keys
            raise RegistryError(f"client {client_id!r}: its JWKS is not valid: {exc}") from exc
    if not clients:
        raise RegistryError(f"the client registry {path} registers no clients")
    return clients
