from hypothesis import given
from hypothesis import strategies as st

from carebridge.core.nhs_number import check_digit, format_nhs_number, is_valid, normalise


def test_the_reference_example_is_valid_and_a_changed_digit_is_not():
    assert is_valid("943 476 5919")
    assert not is_valid("943 476 5918")
    assert not is_valid("9434765")


def test_normalise_strips_spaces_and_dashes_and_rejects_non_digits():
    assert normalise(" 943-476-5919 ") == "9434765919"
    assert normalise("94347659AB") is None
    assert normalise(None) is None


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_a_number_built_with_its_check_digit_is_valid_unless_none_exists(first_nine):
    check = check_digit(first_nine)
    if check is None:
        assert not any(is_valid(first_nine + str(d)) for d in range(10))
    else:
        number = first_nine + str(check)
        assert is_valid(number) and is_valid(format_nhs_number(number))
        assert sum(is_valid(first_nine + str(d)) for d in range(10)) == 1
