#!/usr/bin/env python3
"""Set up carebridge in ./.venv (once, and again when pyproject.toml changes), then run a command.

    python3 dev.py demo [carebridge demo options]   generate a synthetic system and run the pipeline
    python3 dev.py test [pytest options]            run the test suite
    python3 dev.py carebridge ...                   any carebridge command
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".carebridge-stamp"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def _fingerprint() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_environment() -> None:
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"carebridge needs Python 3.11 (this is {sys.version.split()[0]})")
    if not (BIN / "python").exists():
        print("creating .venv ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    if not STAMP.exists() or STAMP.read_text() != _fingerprint():
        print("installing carebridge and its dependencies into .venv (first run takes a few minutes) ...", flush=True)
        pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "-e", f"{ROOT}[dev,postgres,spark]"], check=True)
        STAMP.write_text(_fingerprint())
    if not (VENV / "share" / "carebridge" / "datadocs-assets" / "vega").exists():
        # The Data Docs' JavaScript and CSS, packed from npm once so that the site opens offline.
        print("installing the Data Docs assets (npm pack, once) ...", flush=True)
        done = subprocess.run([str(BIN / "python"), "-m", "expectations.offline_docs", "install"], cwd=ROOT)
        if done.returncode != 0:
            print("could not pack the Data Docs assets with npm: the Data Docs will need the network to display",
                  file=sys.stderr)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "carebridge"}:
        print(__doc__)
        return 2
    ensure_environment()
    command, rest = argv[0], argv[1:]
    if command == "test":
        workers = [] if any(a == "-n" or a.startswith("-n") for a in rest) else ["-n", str(min(os.cpu_count() or 1, 4))]
        return subprocess.call([str(BIN / "python"), "-m", "pytest", *workers, *rest], cwd=ROOT)
    if command == "demo":
        return subprocess.call([str(BIN / "carebridge"), "demo", *rest], cwd=ROOT)
    return subprocess.call([str(BIN / "carebridge"), *rest], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
