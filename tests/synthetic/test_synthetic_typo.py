"""Name typos always change the name, and only by one keying slip."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from carebridge.synthetic.faults import typo

names = st.text(alphabet=st.characters(categories=["L"]) | st.sampled_from("’-' "), min_size=2, max_size=20)


@given(names, st.integers(min_value=0, max_value=10**6))
def test_a_typo_is_one_swap_drop_or_double(name, choice):
    changed = typo(name, choice)
    assert changed != name
    swapped = len(changed) == len(name) and sorted(changed) == sorted(name)
    assert swapped or abs(len(changed) - len(name)) == 1
    assert changed[0] == name[0] or swapped


def test_a_one_letter_name_is_doubled():
    assert typo("X", 3) == "XX"
