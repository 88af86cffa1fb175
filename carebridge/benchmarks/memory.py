"""Resident memory of this process and its children, sampled in a background thread.

Peak figures include child processes (the FHIR validation workers), read from /proc (Linux)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

__all__ = ["tree_rss_bytes", "MemorySampler"]


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return kids


def tree_rss_bytes(pid: int | None = None) -> int:
    """RSS of a process and all its descendants."""
    pid = pid or os.getpid()
    return _rss(pid) + sum(tree_rss_bytes(child) for child in _children(pid))


class MemorySampler:
    """Samples the process tree's RSS every `interval` seconds; `peak_between(t0, t1)` reads it back."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), tree_rss_bytes()))
            self._stop.wait(self.interval)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak_between(self, start: float, end: float) -> int:
        return max((rss for t, rss in self.samples if start <= t <= end), default=0)
