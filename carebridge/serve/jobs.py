"""Bulk Data export jobs: one per kick-off, run in a thread, files written to a private folder.

A job writes, for each requested type, the NDJSON lines of the group's resources of that type
(byte for byte as in `fhir/ndjson/<Type>.ndjson`, in the same id order) to `<folder>/<Type>.ndjson`;
types with nothing to export get no file (the IG: `output` lists only files with resources).
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from carebridge.serve.store import Served

__all__ = ["Job", "JobQueue", "write_export"]


@dataclass
class Job:
    id: str
    client_id: str
    ods: str
    request: str                  # the kick-off URL as the client sent it
    types: tuple[str, ...]
    since_month: str | None
    transaction_time: str
    folder: Path
    done_types: int = 0
    output: list[dict[str, object]] = field(default_factory=list)
    error: str | None = None
    finished: bool = False
    finished_at: float = 0.0
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def progress(self) -> str:
        return f"{self.done_types}/{len(self.types)} resource types written"


def _keys_by_type(keys: Iterable[str]) -> dict[str, set[str]]:
    by_type: dict[str, set[str]] = {}
    for key in keys:
        rtype, _, rid = key.partition("/")
        by_type.setdefault(rtype, set()).add(rid)
    return by_type


def _copy_lines(folder: Path, places: list[tuple[str, int]], target: Path) -> None:
    """The lines at (file name, byte offset) in `folder`, in that order, into one NDJSON file (the
    files of a partitioned export each opened once)."""
    with ExitStack() as stack, open(target, "wb") as out:
        sources: dict[str, BinaryIO] = {}
        for name, position in places:
            if name not in sources:
                sources[name] = stack.enter_context(open(folder / name, "rb"))
            sources[name].seek(position)
            line = sources[name].readline()
            out.write(line if line.endswith(b"\n") else line + b"\n")


def write_export(served: Served, job: Job, file_url: str) -> None:
    """Write the job's files and fill `job.output` ({type, url, count}); stops early if cancelled."""
    wanted = _keys_by_type(served.members(job.ods, job.since_month))
    job.folder.mkdir(parents=True, exist_ok=True)
    for rtype in job.types:
        if job.cancelled.is_set():
            return
        places = [served.offsets[f"{rtype}/{rid}"] for rid in sorted(wanted.get(rtype, ()))]  # id order
        if places:
            _copy_lines(served.ndjson, places, job.folder / f"{rtype}.ndjson")
            job.output.append({"type": rtype, "url": f"{file_url}/{rtype}.ndjson", "count": len(places)})
        job.done_types += 1


class JobQueue:
    """The server's jobs, each run in its own daemon thread; files under `root`. A finished job is
    kept until the client deletes it or for `keep_seconds` (then the next kick-off removes it)."""

    def __init__(self, served: Served, root: Path, keep_seconds: float = 3600) -> None:
        self.served = served
        self.keep_seconds = keep_seconds
        self.root = Path(root)
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, *, client_id: str, ods: str, request: str, types: tuple[str, ...], since_month: str | None,
              file_url_of: callable) -> Job:
        self._expire()
        job_id = uuid.uuid4().hex
        job = Job(id=job_id, client_id=client_id, ods=ods, request=request, types=types, since_month=since_month,
                  transaction_time=self.served.transaction_time, folder=self.root / job_id)
        with self._lock:
            self.jobs[job_id] = job
        threading.Thread(target=self._run, args=(job, file_url_of(job_id)), daemon=True,
                         name=f"bulk-export-{job_id}").start()
        return job

    def _run(self, job: Job, file_url: str) -> None:
        try:
            write_export(self.served, job, file_url)
        except Exception as exc:  # reported to the client by the status endpoint, never swallowed
            job.error = f"export failed: {type(exc).__name__}: {exc}"
        finally:
            job.finished_at = time.time()
            job.finished = True
            if job.cancelled.is_set():
                shutil.rmtree(job.folder, ignore_errors=True)

    def _expire(self) -> None:
        """Delete finished jobs older than `keep_seconds` (clients that never sent DELETE)."""
        cutoff = time.time() - self.keep_seconds
        for job_id in [j.id for j in list(self.jobs.values()) if j.finished and j.finished_at < cutoff]:
            self.cancel(job_id)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self.jobs.get(job_id)

    def cancel(self, job_id: str) -> None:
        """Forget a job and delete its files (a running job stops at its next type)."""
        with self._lock:
            job = self.jobs.pop(job_id, None)
        if job is not None:
            job.cancelled.set()
            if job.finished:
                shutil.rmtree(job.folder, ignore_errors=True)

    def close(self) -> None:
        for job_id in list(self.jobs):
            self.cancel(job_id)
