"""Pieces the service builders share: contact schedules, attendance, paired-measure positions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..vector import NAT, add_days, between, explode, group_count, group_cumsum, group_rank, pick_rows

__all__ = ["ATTENDED", "TRAJECTORIES", "Contacts", "plan_contacts", "attendance", "last_per_episode",
           "trajectories", "by_trajectory", "Attended", "attended"]

ATTENDED = ("5", "6")                      # AttendStatus codes that count as attended (reference.md)
TRAJECTORIES = ("improve", "flat", "worse")


@dataclass(frozen=True)
class Contacts:
    """Contacts of a batch of episodes: the episode of each, its position in the episode, its date."""
    episode: np.ndarray
    position: np.ndarray
    dates: np.ndarray

    def __len__(self) -> int:
        return len(self.episode)


def plan_contacts(rng: np.random.Generator, first: np.ndarray, counts: np.ndarray, gap: tuple[int, int],
                  second_gap: tuple[int, int] | None = None) -> Contacts:
    """`counts` contacts per episode: on `first`, then after gaps (the second gap may differ)."""
    episode, position = explode(counts)
    gaps = between(rng, gap, len(episode))
    if second_gap is not None:
        gaps[position == 1] = between(rng, second_gap, int((position == 1).sum()))
    gaps[position == 0] = 0
    return Contacts(episode, position, add_days(first[episode], group_cumsum(gaps, counts)))


def attendance(rng: np.random.Generator, weights: dict, dna_codes: tuple[str, ...],
               dna_multiplier: np.ndarray) -> np.ndarray:
    """Attendance outcome per row, with did-not-attend made likelier by a per-row multiplier."""
    keys = list(weights)
    probs = np.tile(np.array(list(weights.values()), dtype=float), (len(dna_multiplier), 1))
    for i, key in enumerate(keys):
        if key in dna_codes:
            probs[:, i] *= dna_multiplier
    return np.array(keys, dtype=object)[pick_rows(rng, probs)]


def last_per_episode(n: int, episode: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Latest date per episode (NaT for episodes without rows)."""
    last = np.full(n, NAT)
    np.maximum.at(last.view("int64"), episode, dates.view("int64"))  # NaT is the smallest int64
    return last


def trajectories(rng: np.random.Generator, weights: dict, shift_by_imd: list, imd: np.ndarray) -> np.ndarray:
    """improve / flat / worse per episode; deprivation shifts the chance of improving."""
    probs = np.tile(np.array([weights[t] for t in TRAJECTORIES], dtype=float), (len(imd), 1))
    probs[:, 0] = np.clip(probs[:, 0] + np.array(shift_by_imd)[imd - 1], 0.01, None)
    return np.array(TRAJECTORIES, dtype=object)[pick_rows(rng, probs)]


def by_trajectory(rng: np.random.Generator, trajectory: np.ndarray, ranges: dict) -> np.ndarray:
    """A whole number per episode, from the range its trajectory has."""
    out = np.zeros(len(trajectory), dtype=np.int64)
    for t in TRAJECTORIES:
        rows = np.flatnonzero(trajectory == t)
        out[rows] = between(rng, ranges[t], len(rows))
    return out


@dataclass(frozen=True)
class Attended:
    """Attended contacts: their rows, rank within the episode's attended contacts, and how many."""
    rows: np.ndarray
    rank: np.ndarray
    count: np.ndarray

    def first_and_last(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows where paired measures are taken (first, and last if more than one) and how far
        through each is (0 or 1)."""
        chosen = (self.rank == 0) | ((self.rank == self.count - 1) & (self.count > 1))
        return self.rows[chosen], (self.rank[chosen] > 0).astype(float)


def attended(contacts: Contacts, mask: np.ndarray) -> Attended:
    rows = np.flatnonzero(mask)
    episode = contacts.episode[rows]
    return Attended(rows, group_rank(episode, contacts.dates[rows].view("int64")), group_count(episode))
