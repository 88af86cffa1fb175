"""Extracts arriving in carebridge's own MESH inbox, moved into the landing area.

A provider sends each extract table as one MESH message whose file name (`Mex-FileName`) spells
its landing path with dots: `<source>.<ODS>.<YYYY-MM>.<submission id>.<table>.<csv|parquet>`, e.g.
`mhsds.RZZ.2025-04.20250407T0900.MHS101Referral.csv` lands as
`<landing>/mhsds/RZZ/2025-04/20250407T0900/MHS101Referral.csv` (shared/spec/extracts.md). The file is
written beside its target and renamed into place, then the message is acknowledged (so a crash in
between re-delivers it next time; an identical file already in place is simply kept). A message
whose name does not follow the pattern, or that would overwrite a different file already landed,
is not lost: it is written to `<landing>/mesh_unrecognised/<message id>/` with `reason.txt`, and
acknowledged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from carebridge.core.layout import SOURCES  # the landing layout, defined once

__all__ = ["landing_path", "collect_inbox", "Collected", "SOURCES", "UNRECOGNISED"]

UNRECOGNISED = "mesh_unrecognised"
_NAME = re.compile(r"^(?P<source>[a-z_]+)\.(?P<ods>[A-Z0-9]{3,10})\.(?P<month>\d{4}-(0[1-9]|1[0-2]))\."
                   r"(?P<submission>[A-Za-z0-9_-]+)\.(?P<table>[A-Za-z0-9_-]+)\.(?P<ext>csv|parquet)$")


def landing_path(filename: str) -> Path:
    """The landing-relative path a MESH file name stands for; ValueError saying why if none."""
    match = _NAME.match(filename or "")
    if not match:
        raise ValueError(f"MESH file name {filename!r} is not <source>.<ODS>.<YYYY-MM>.<submission>.<table>.csv|parquet")
    if match["source"] not in SOURCES:
        raise ValueError(f"MESH file name {filename!r}: unknown source {match['source']!r} (one of {', '.join(SOURCES)})")
    return Path(match["source"], match["ods"], match["month"], match["submission"], f"{match['table']}.{match['ext']}")


@dataclass
class Collected:
    landed: list[str] = field(default_factory=list)         # landing-relative paths written
    unrecognised: list[str] = field(default_factory=list)   # message ids set aside, with a reason


def _write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_bytes(data)
    partial.replace(target)


def _set_aside(landing: Path, message_id: str, filename: str | None, data: bytes, reason: str) -> None:
    folder = landing / UNRECOGNISED / message_id
    _write(folder / "payload", data)
    (folder / "reason.txt").write_text(f"{reason}\nMESH file name: {filename!r}\n", encoding="utf-8")


def collect_inbox(client, landing: Path) -> Collected:
    """Move every message of a `mesh_client.MeshClient`'s inbox into the landing area, acknowledging each."""
    landing = Path(landing)
    result = Collected()
    for message_id in client.list_messages():
        message = client.retrieve_message(message_id)
        try:
            data = message.read()
        finally:
            message.close()
        try:
            relative = landing_path(message.filename)
            target = landing / relative
            if target.exists() and target.read_bytes() != data:
                raise ValueError(f"{relative} already landed with different content; a resubmission needs a new "
                                 "submission id")
        except ValueError as exc:
            _set_aside(landing, message_id, message.filename, data, str(exc))
            result.unrecognised.append(message_id)
        else:
            if not target.exists():
                _write(target, data)
            result.landed.append(relative.as_posix())
        client.acknowledge_message(message_id)
    return result
