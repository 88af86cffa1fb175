"""People: valid unique NHS numbers, and pathway chances that differ between groups on purpose."""

from __future__ import annotations

import numpy as np
import pytest

from carebridge.core.nhs_number import check_digit, is_valid
from carebridge.core.reference import load_reference
from carebridge.synthetic.journeys import assign_pathways
from carebridge.synthetic.population import make_population, nhs_check_digits, nhs_numbers
from carebridge.synthetic.vector import stream
from carebridge.synthetic.window import make_window


def test_check_digits_agree_with_carebridge():
    prefixes = np.random.default_rng(1).integers(100_000_000, 999_999_999, 2000)
    expected = [check_digit(str(p)) for p in prefixes]
    assert list(nhs_check_digits(prefixes)) == [-1 if e is None else e for e in expected]


def test_nhs_numbers_are_valid_and_unique():
    numbers = nhs_numbers(np.random.default_rng(2), 5000, 999_000_000, 999_099_999)
    assert len(set(numbers)) == 5000
    assert all(is_valid(n) for n in numbers)


@pytest.fixture(scope="module")
def people():
    window = make_window("2025-04", "2026-03")
    population = make_population(60_000, window, stream(3, "population"), load_reference())
    return population, assign_pathways(population, window, stream(3, "pathways"))


def _share(mask: np.ndarray, within: np.ndarray) -> float:
    return mask[within].mean()


def test_crisis_is_commoner_in_deprived_areas(people):
    population, plan = people
    crisis = plan.extra["crisis"]
    assert _share(crisis, population.imd_decile <= 2) > 1.5 * _share(crisis, population.imd_decile >= 9)


def test_asian_and_black_adults_are_referred_to_talking_therapies_less(people):
    population, plan = people
    tt = plan.primary == "tt"
    white = _share(tt, population.ethnic_group == "White")
    assert _share(tt, population.ethnic_group == "Asian") < 0.8 * white
    assert _share(tt, population.ethnic_group == "Black") < 0.8 * white


def test_ethnic_groups_live_in_different_deprivation(people):
    population, _ = people
    mean_imd = {g: population.imd_decile[population.ethnic_group == g].mean() for g in ("White", "Black")}
    assert mean_imd["Black"] < mean_imd["White"] - 0.5


def test_children_and_leavers_make_no_adult_journeys(people):
    population, plan = people
    assert not (plan.primary[population.age < 12] != "none").any()
    assert not (plan.primary[~np.isnat(population.registration_end)] != "none").any()
