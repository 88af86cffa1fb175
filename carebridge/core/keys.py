"""The pseudonymisation key: a secret held outside the repository and the output folder.

`person_key` in the analytics schema is HMAC-SHA256 of the person index id under this key, so
the warehouse alone cannot be turned back into people. The key file holds 32 random bytes as hex,
readable by its owner only: a key file that group or others may read or write is refused (one
line saying `chmod 600 <file>`), and so is a key inside the landing area, the output folder or the
carebridge repository. The key is never logged, and no error message shows the file's content.

Where it lives: `--key-file`, else `CAREBRIDGE_KEY_FILE`, else `pseudonymisation.key` in the user's
configuration directory (`$XDG_CONFIG_HOME/carebridge/`, by default `~/.config/carebridge/`).

Rotation (`carebridge rotate-key`): a new key is written beside the old one (`stage_new_key`), the
analytics schema is rebuilt under it in one run, and only then does it replace the old key
(`commit_new_key`); the old key is not kept, so old person_keys cannot be linked to new ones.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from carebridge.core.settings import KEY_FILE_ENV, Settings

__all__ = ["KEY_ENV", "KEY_BYTES", "KeyFileError", "default_key_path", "load_key", "load_or_create_key",
           "check_key_location", "check_key_permissions", "ensure_key", "stage_new_key", "commit_new_key"]

KEY_ENV = KEY_FILE_ENV
KEY_BYTES = 32
_REPOSITORY = Path(__file__).resolve().parents[2]  # the checkout (or site-packages) carebridge runs from


class KeyFileError(RuntimeError):
    """The key file cannot be used (unreadable, malformed, too short, or in a forbidden place)."""


def default_key_path() -> Path:
    configured = Settings.resolve().key_file
    if configured is not None:
        return configured
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config_home / "carebridge" / "pseudonymisation.key"


def load_key(path: Path | None = None) -> bytes:
    """The key in `path`; a KeyFileError naming the file and the kind of problem, never its content."""
    path = path or default_key_path()
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise KeyFileError(f"cannot read the pseudonymisation key file {path}: {type(exc).__name__}") from None
    if len(key) < KEY_BYTES:
        raise KeyFileError(f"the pseudonymisation key in {path} is shorter than {KEY_BYTES} bytes")
    check_key_permissions(path)
    return key


def check_key_permissions(path: Path) -> None:
    """Refuse a key file that anyone but its owner may read or write (POSIX permission bits)."""
    if os.name != "posix":
        return
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        raise KeyFileError(f"the pseudonymisation key file {path} is open to group or others (mode {mode:04o}); "
                           f"make it readable by its owner only: chmod 600 {path}")


def _write_new_key(path: Path) -> None:
    """A new random key in a new file readable by its owner only (fails if the file exists)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(KEY_BYTES) + "\n")


def load_or_create_key(path: Path | None = None) -> tuple[bytes, bool]:
    """The key, creating a new random one (readable by the owner only) when none exists."""
    path = path or default_key_path()
    if path.exists():
        return load_key(path), False
    _write_new_key(path)
    return load_key(path), True


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def check_key_location(path: Path, out_dir: Path | None = None, landing: Path | None = None) -> None:
    """Refuse a key file inside the output folder (it would be shipped with the outputs), inside the
    landing area (other organisations write there) or inside carebridge's own source tree (it
    could be committed)."""
    if out_dir is not None and _inside(path, out_dir):
        raise KeyFileError(f"the pseudonymisation key file {path} is inside the output folder {out_dir}; "
                           "keep it outside (--key-file or CAREBRIDGE_KEY_FILE)")
    if landing is not None and _inside(path, landing):
        raise KeyFileError(f"the pseudonymisation key file {path} is inside the landing area {landing}; "
                           "keep it outside (--key-file or CAREBRIDGE_KEY_FILE)")
    if _inside(path, _REPOSITORY) and (_REPOSITORY / "pyproject.toml").exists():
        raise KeyFileError(f"the pseudonymisation key file {path} is inside the carebridge repository {_REPOSITORY}; "
                           "keep it outside (--key-file or CAREBRIDGE_KEY_FILE)")


def ensure_key(path: Path, out_dir: Path | None = None, landing: Path | None = None) -> bool:
    """Before a run: the key file is in an allowed place and usable, or is created (True) when missing.
    Raises KeyFileError otherwise, so a run stops before any work rather than at the analytics stage."""
    check_key_location(path, out_dir, landing)
    return load_or_create_key(path)[1]


def stage_new_key(path: Path) -> Path:
    """Write a new random key beside the key file at `path` (`<name>.new`) and return its path.
    A `.new` file left by an interrupted rotation is replaced."""
    staged = path.with_name(path.name + ".new")
    staged.unlink(missing_ok=True)
    _write_new_key(staged)
    return staged


def commit_new_key(staged: Path, path: Path) -> None:
    """Make the staged key the key (atomic rename); the old key is gone."""
    os.replace(staged, path)
