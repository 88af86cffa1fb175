"""Journey step labels, exactly as the warehouse computes them (see the truth contract, TRUTH.md).

Per person, referrals are ordered by received date (the GP's referral date for a referral nobody
received), ties by referral id. Step 1 is `first_referral`; a later step compared with the step
before it is `re_referral` when it is the same service (provider + service code), else
`bounced_back` when the previous step was rejected on or before this one's day (or with no
rejection date) and this one's setting rank is not higher, else `step_up` / `step_down` /
`sideways` by setting rank (codes.yaml `setting_rank`).
"""

from __future__ import annotations

import numpy as np

from carebridge.core.reference import codes

__all__ = ["TRANSITIONS", "transitions"]

TRANSITIONS = ("first_referral", "step_up", "step_down", "sideways", "re_referral", "bounced_back")


def transitions(person: np.ndarray, day: np.ndarray, referral_id: np.ndarray, provider: np.ndarray,
                service: np.ndarray, setting: np.ndarray, status: np.ndarray,
                rejected_day: np.ndarray | None = None) -> np.ndarray:
    """The transition label of every referral (arrays aligned row by row). `rejected_day`: the day
    each referral was rejected, NaN where none or unknown (None: no rejection dates known)."""
    order = np.lexsort((referral_id.astype(str), day, person))
    ranks = codes()["setting_rank"]
    rank = np.array([ranks[s] for s in setting[order]], dtype=np.int64)
    p, svc = person[order], np.char.add(np.char.add(provider[order].astype(str), "|"), service[order].astype(str))
    first = np.r_[True, p[1:] != p[:-1]]
    prev_rank, prev_svc = np.r_[0, rank[:-1]], np.r_["0", [""], svc[:-1]]
    rejected_on = (np.full(len(order), np.nan) if rejected_day is None
                   else np.asarray(rejected_day, dtype=np.float64)[order])
    prev_rejected_on = np.r_[np.nan, rejected_on[:-1]]
    # rejected before this referral (a referral made while the previous one was still open is no bounce)
    prev_rejected = np.r_[False, status[order][:-1] == "rejected"] & ~(prev_rejected_on > day[order])
    label = np.select(
        [first, svc == prev_svc, prev_rejected & (rank <= prev_rank), rank > prev_rank, rank < prev_rank],
        ["first_referral", "re_referral", "bounced_back", "step_up", "step_down"], "sideways")
    out = np.empty(len(order), dtype=object)
    out[order] = label
    return out
