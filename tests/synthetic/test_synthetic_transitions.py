"""Journey labels follow the rule the warehouse uses (TRUTH.md), case by case."""

from __future__ import annotations

import numpy as np
import pytest

from carebridge.synthetic.transitions import transitions

# (description, steps as (day, id, provider, service, setting, status), expected labels in input order)
CASES = [
    ("one referral", [(1, "a", "RZY", "TT", "talking_therapies", "open")], ["first_referral"]),
    ("Talking Therapies then CMHT", [(1, "a", "RZY", "TT", "talking_therapies", "closed"),
                                     (9, "b", "RZZ", "A06", "secondary", "open")], ["first_referral", "step_up"]),
    ("CMHT then VCSE", [(1, "a", "RZZ", "A06", "secondary", "closed"),
                        (9, "b", "8ZZ01", "SP", "vcse", "open")], ["first_referral", "step_down"]),
    ("rejected then re-referred to the same team", [(1, "a", "RZZ", "A06", "secondary", "rejected"),
                                                    (9, "b", "RZZ", "A06", "secondary", "open")],
     ["first_referral", "re_referral"]),
    ("rejected then sent to a VCSE", [(1, "a", "RZZ", "A06", "secondary", "rejected"),
                                      (9, "b", "8ZZ01", "SP", "vcse", "open")], ["first_referral", "bounced_back"]),
    ("rejected then another secondary team", [(1, "a", "RZZ", "A06", "secondary", "rejected"),
                                              (9, "b", "RZZ", "A14", "secondary", "open")],
     ["first_referral", "bounced_back"]),
    ("rejected by a VCSE then Talking Therapies", [(1, "a", "8ZZ01", "SP", "vcse", "rejected"),
                                                   (9, "b", "RZY", "TT", "talking_therapies", "open")],
     ["first_referral", "step_up"]),
    ("CMHT then crisis team", [(1, "a", "RZZ", "A06", "secondary", "open"),
                              (9, "b", "RZZ", "A02", "secondary", "closed")], ["first_referral", "sideways"]),
    ("out of order input, same day tie by id", [(5, "b", "8ZZ01", "SP", "vcse", "open"),
                                                (5, "a", "RZY", "TT", "talking_therapies", "open")],
     ["step_down", "first_referral"]),
    ("not received counts as a step", [(1, "r", "RZZ", "A06", "secondary", "not_received"),
                                       (20, "s", "RZZ", "A06", "secondary", "open")],
     ["first_referral", "re_referral"]),
]


@pytest.mark.parametrize("description, steps, expected", CASES, ids=[c[0] for c in CASES])
def test_transition(description, steps, expected):
    day, ids, provider, service, setting, status = (np.array(col, dtype=object) for col in zip(*steps))
    person = np.zeros(len(steps), dtype=np.int64)
    assert list(transitions(person, day.astype(np.int64), ids, provider, service, setting, status)) == expected


def test_people_are_labelled_separately():
    person = np.array([1, 2])
    o = lambda *v: np.array(v, dtype=object)  # noqa: E731
    labels = transitions(person, np.array([1, 2]), o("a", "b"), o("RZY", "RZZ"), o("TT", "A06"),
                         o("talking_therapies", "secondary"), o("open", "open"))
    assert list(labels) == ["first_referral", "first_referral"]


def test_a_referral_made_before_the_previous_ones_rejection_is_not_bounced_back():
    o = lambda *v: np.array(v, dtype=object)  # noqa: E731
    person, day = np.zeros(2, dtype=np.int64), np.array([1, 9])
    args = (o("a", "b"), o("RZZ", "8ZZ01"), o("A06", "SP"), o("secondary", "vcse"), o("rejected", "open"))
    rejected_after = transitions(person, day, *args, rejected_day=np.array([12.0, np.nan]))
    rejected_same_day = transitions(person, day, *args, rejected_day=np.array([9.0, np.nan]))
    undated = transitions(person, day, *args, rejected_day=np.array([np.nan, np.nan]))
    assert list(rejected_after) == ["first_referral", "step_down"]
    assert list(rejected_same_day) == list(undated) == ["first_referral", "bounced_back"]
