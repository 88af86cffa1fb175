"""One run at a time per output folder and warehouse.

- Output folder (and a DuckDB warehouse file elsewhere): an exclusive `flock` on a lock file that
  records its holder (PID, host, start time). The kernel drops the lock when the holder dies, so a
  lock file still naming a holder but not locked is stale: it is taken over with a warning.
- PostgreSQL: a session-level advisory lock held on a dedicated connection for the whole run; the
  holder is named in that connection's `application_name`, which `pg_stat_activity` shows to the
  refused run. The server drops it when the holder's session ends.

Locks are re-entrant within one process (the CLI takes them before the runner, which takes them again).
Light imports only: the CLI takes the lock before loading Dagster.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["RunLocked", "Holder", "run_lock", "step_lock", "LOCK_NAME"]

LOCK_NAME = ".carebridge-run.lock"
# One advisory lock key per database (the key space is per database): "carebridge run".
ADVISORY_KEY = zlib.crc32(b"carebridge run")

_held: dict[str, int] = {}  # lock identity -> depth, for re-entrance in this process


class RunLocked(RuntimeError):
    """Another carebridge run holds the output folder or the warehouse: a one-line reason."""


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    started: str

    @classmethod
    def me(cls) -> Holder:
        return cls(os.getpid(), socket.gethostname(), datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))

    def describe(self) -> str:
        return f"PID {self.pid} on host {self.host}, started {self.started}"

    def tag(self) -> str:
        """For PostgreSQL's application_name (at most 63 bytes)."""
        return f"carebridge pid={self.pid} host={self.host[:20]} since={self.started}"[:63]

    @classmethod
    def from_tag(cls, tag: str) -> Holder | None:
        fields = dict(part.split("=", 1) for part in tag.split()[1:] if "=" in part)
        try:
            return cls(int(fields["pid"]), fields["host"], fields["since"])
        except (KeyError, ValueError):
            return None


def _read_holder(handle) -> Holder | None:
    handle.seek(0)
    text = handle.read()
    try:
        data = json.loads(text)
        return Holder(int(data["pid"]), str(data["host"]), str(data["started"]))
    except (ValueError, KeyError, TypeError):
        return None


@contextlib.contextmanager
def _file_lock(path: Path, what: str, warn: Callable[[str], None]) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole run
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(handle)
            who = holder.describe() if holder else "a Dagster run's step"
            raise RunLocked(f"{what} is in use by another carebridge run ({who}); "
                            f"wait for it to finish or stop it (lock: {path})") from None
        stale = _read_holder(handle)
        if stale is not None:
            warn(f"warning: taking over the run lock of {what}, left by a run that is gone ({stale.describe()})")
        handle.seek(0)
        handle.truncate()
        me = Holder.me()
        handle.write(json.dumps({"pid": me.pid, "host": me.host, "started": me.started}))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()  # an empty file: released cleanly, nothing stale to report
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


def _pg_where(url) -> str:
    return f"{url.host or 'localhost'}:{url.port or 5432}/{url.database}"


@contextlib.contextmanager
def _advisory_lock(url_text: str) -> Iterator[None]:
    import sqlalchemy as sa

    url = sa.make_url(url_text)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool,
                              connect_args={"application_name": Holder.me().tag(), "connect_timeout": 10})
    try:
        with engine.connect() as conn:
            got = conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({ADVISORY_KEY})").scalar()
            if not got:
                tag = conn.exec_driver_sql(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    f"WHERE l.locktype = 'advisory' AND l.granted AND l.objid::bigint = {ADVISORY_KEY} "
                    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                    "LIMIT 1").scalar()
                holder = Holder.from_tag(tag or "")
                who = holder.describe() if holder else f"session {tag!r}"
                raise RunLocked(f"warehouse {_pg_where(url)} is in use by another carebridge run ({who}); "
                                "wait for it to finish or stop it")
            conn.commit()
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({ADVISORY_KEY})")
    finally:
        engine.dispose()


def _duckdb_file(url: str) -> Path | None:
    path = url.split("///", 1)[-1] if "///" in url else ""
    return Path(path).resolve() if path and path != ":memory:" else None


def _stderr(line: str) -> None:
    import sys

    print(line, file=sys.stderr)


@contextlib.contextmanager
def _reentrant(identity: str, make) -> Iterator[None]:
    if _held.get(identity):
        _held[identity] += 1
        try:
            yield
        finally:
            _held[identity] -= 1
        return
    with make():
        _held[identity] = 1
        try:
            yield
        finally:
            _held.pop(identity, None)


@contextlib.contextmanager
def run_lock(out: Path, warehouse_url: str = "", warn: Callable[[str], None] = _stderr) -> Iterator[None]:
    """Hold the output folder and the warehouse for one run, or raise RunLocked naming the holder."""
    out = Path(out).resolve()
    with contextlib.ExitStack() as stack:
        folder_lock = out / LOCK_NAME
        stack.enter_context(_reentrant(str(folder_lock), lambda: _file_lock(
            folder_lock, f"output folder {out}", warn)))
        if warehouse_url.startswith("postgresql"):
            stack.enter_context(_reentrant(warehouse_url, lambda: _advisory_lock(warehouse_url)))
        elif warehouse_url.startswith("duckdb"):
            db = _duckdb_file(warehouse_url)
            if db is not None and db.parent != out:
                lock = db.with_name(db.name + ".carebridge-run.lock")
                stack.enter_context(_reentrant(str(lock), lambda: _file_lock(lock, f"warehouse {db}", warn)))
        yield


@contextlib.contextmanager
def step_lock(out: Path) -> Iterator[None]:
    """A shared hold on the output folder for one Dagster step (runs launched from the UI, sensors
    or `dagster asset materialize`): steps go side by side (the warehouse pool orders them), but
    not while a `carebridge run` holds the folder, and such a run is refused while a step runs.
    Nothing to do inside a `carebridge run` (this process holds the folder already)."""
    path = Path(out).resolve() / LOCK_NAME
    if _held.get(str(path)):
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the step
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(handle)
            who = holder.describe() if holder else "another process"
            raise RunLocked(f"output folder {path.parent} is in use by a carebridge run ({who}); "
                            "materialise again when it has finished") from None
        if _read_holder(handle) is not None:
            handle.seek(0)
            handle.truncate()  # a record no exclusive holder stands behind: a dead run's, stale
            handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()
