import os
import stat

import pytest

from carebridge.core.ids import person_id_for_nhs_number, record_id
from carebridge.core.keys import KeyFileError, load_key, load_or_create_key


def test_record_ids_are_deterministic_and_distinguish_every_part():
    a = record_id("mhsds", "RZZ", "MHS101Referral", "R1")
    assert a == record_id("mhsds", "RZZ", "MHS101Referral", "R1")
    assert len({a, record_id("gp", "RZZ", "MHS101Referral", "R1"), record_id("mhsds", "RZY", "MHS101Referral", "R1"),
                record_id("mhsds", "RZZ", "MHS201CareContact", "R1"), record_id("mhsds", "RZZ", "MHS101Referral", "R2")}) == 5
    assert person_id_for_nhs_number("9434765919") != person_id_for_nhs_number("9434765927")


def test_a_key_is_created_once_owner_readable_and_then_reused(tmp_path):
    path = tmp_path / "cfg" / "key"
    key, created = load_or_create_key(path)
    assert created and len(key) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_key(path) == (key, False)


def test_an_unreadable_key_is_a_clear_error_that_does_not_show_the_content(tmp_path):
    path = tmp_path / "key"
    path.write_text("not-hex-secret-material")
    with pytest.raises(KeyFileError) as err:
        load_key(path)
    assert "not-hex" not in str(err.value) and str(path) in str(err.value)
