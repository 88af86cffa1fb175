"""Resident memory and CPU time of this process and its children, sampled in a background thread.

Peak figures include child processes (the FHIR validation workers), read from /proc (Linux). CPU
seconds (user + system, of the tree, reaped children included) say what a stage cost on a shared
machine, where wall time depends on the other processes' load."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

__all__ = ["tree_rss_bytes", "tree_cpu_seconds", "MemorySampler"]


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


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu(pid: int) -> float:
    """utime + stime + cutime + cstime of a process (its reaped children included), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return sum(int(v) for v in fields[11:15]) / _TICK


def tree_cpu_seconds(pid: int | None = None) -> float:
    """CPU seconds of a process and all its descendants (a child's time moves to its parent when reaped)."""
    pid = pid or os.getpid()
    return _cpu(pid) + sum(tree_cpu_seconds(child) for child in _children(pid))


class MemorySampler:
    """Samples the process tree's RSS every `interval` seconds; `peak_between(t0, t1)` reads it back."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self.cpu: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            self.samples.append((now, tree_rss_bytes()))
            self.cpu.append((now, tree_cpu_seconds()))
            self._stop.wait(self.interval)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak_between(self, start: float, end: float) -> int:
        return max((rss for t, rss in self.samples if start <= t <= end), default=0)

    def cpu_between(self, start: float, end: float) -> float:
        """CPU seconds of the tree from the last sample at or before `start` to the last at or before `end`."""
        def at(when: float) -> float:
            return max((c for t, c in self.cpu if t <= when), default=0.0)
        return max(at(end) - at(start), 0.0)
