"""Small vectorised helpers the journey builders share (numpy, no per-row Python)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import zlib

import numpy as np

__all__ = ["explode", "group_rank", "group_count", "group_cumsum", "pick", "pick_rows", "between", "add_days",
           "clip_round", "times_of_day", "stream", "map_values", "NAT"]

NAT = np.datetime64("NaT", "D")


def explode(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For parents with `counts` children each: the parent of every child and its 0-based position."""
    counts = np.asarray(counts, dtype=np.int64)
    parent = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    position = np.arange(int(counts.sum())) - np.repeat(starts, counts)
    return parent, position


def group_rank(groups: np.ndarray, order: np.ndarray) -> np.ndarray:
    """0-based rank of each row within its group when sorted by `order` (ties by row order)."""
    idx = np.lexsort((np.arange(len(groups)), order, groups))
    sorted_groups = groups[idx]
    starts = np.r_[0, np.flatnonzero(sorted_groups[1:] != sorted_groups[:-1]) + 1]
    lengths = np.diff(np.r_[starts, len(groups)])
    rank_sorted = np.arange(len(groups)) - np.repeat(starts, lengths)
    rank = np.empty(len(groups), dtype=np.int64)
    rank[idx] = rank_sorted
    return rank


def group_count(groups: np.ndarray) -> np.ndarray:
    """How many rows share each row's group."""
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    return counts[inverse]


def pick(rng: np.random.Generator, weights: Mapping[str, float], size: int) -> np.ndarray:
    """Draw `size` keys of `weights` with probability proportional to their weight."""
    keys = np.array(list(weights), dtype=object)
    p = np.array(list(weights.values()), dtype=float)
    return keys[rng.choice(len(keys), size=size, p=p / p.sum())]


def pick_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One column index per row of an (n, k) matrix of unnormalised probabilities."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), probs.shape[1] - 1)


def between(rng: np.random.Generator, bounds: Sequence[int], size: int) -> np.ndarray:
    """Uniform integers in the inclusive range [lo, hi]."""
    lo, hi = bounds
    return rng.integers(lo, hi + 1, size=size)


def add_days(dates: np.ndarray, days: np.ndarray | int) -> np.ndarray:
    return dates + np.asarray(days).astype("timedelta64[D]")


def group_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Running total of `values` within consecutive groups of the given sizes."""
    total = np.cumsum(values)
    starts = np.cumsum(counts) - counts
    before = np.r_[0, total][starts]
    return total - np.repeat(before, counts)


def clip_round(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip(np.rint(values), lo, hi).astype(np.int64)


def times_of_day(rng: np.random.Generator, n: int, hours: tuple[int, int], slot: int = 15) -> np.ndarray:
    """Clock times "HH:MM:00" on a slot grid within working hours."""
    slots = rng.integers(0, (hours[1] - hours[0]) * 60 // slot, size=n) * slot
    if n == 0:
        return np.empty(0, dtype=object)
    hh = np.char.zfill((hours[0] + slots // 60).astype(str), 2)
    mm = np.char.zfill((slots % 60).astype(str), 2)
    return np.char.add(np.char.add(np.char.add(hh, ":"), mm), ":00").astype(object)


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent random stream per named part, so changing one part leaves the others alone."""
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def map_values(values: np.ndarray, mapping: Mapping, default: object = None) -> np.ndarray:
    """mapping[value] for each value (default where the mapping has no entry)."""
    out = np.full(len(values), default, dtype=object)
    for key, value in mapping.items():
        out[values == key] = value
    return out.astype(float) if isinstance(default, float) else out
