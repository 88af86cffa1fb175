"""The pseudonymisation key: a secret held outside the repository and the output folder.

`person_key` in the analytics schema is HMAC-SHA256 of the person index id under this key, so
the warehouse alone cannot be turned back into people. The key is never logged.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["KeyFileError", "default_key_path", "load_key", "load_or_create_key"]

KEY_ENV = "CAREBRIDGE_KEY_FILE"


class KeyFileError(RuntimeError):
    """The key file exists but cannot be used."""


def default_key_path() -> Path:
    if os.environ.get(KEY_ENV):
        return Path(os.environ[KEY_ENV]).expanduser()
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config_home / "carebridge" / "pseudonymisation.key"


def load_key(path: Path | None = None) -> bytes:
    path = path or default_key_path()
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"cannot read the pseudonymisation key file {path}: {type(exc).__name__}") from None
    if len(key) < 32:
        raise KeyFileError(f"the pseudonymisation key in {path} is shorter than 32 bytes")
    return key


def load_or_create_key(path: Path | None = None) -> tuple[bytes, bool]:
    """The key, creating a new random one (readable by the owner only) when none exists."""
    path = path or default_key_path()
    if path.exists():
        return load_key(path), False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    return load_key(path), True
