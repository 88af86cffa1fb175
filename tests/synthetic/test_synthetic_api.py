"""The public entry points: arguments, the truth folder, and `python -m synthetic`."""

from __future__ import annotations

from pathlib import Path

import pytest

from carebridge.synthetic import default_truth_dir, generate, parse_months
from carebridge.synthetic.__main__ import main


def test_truth_folder_defaults_to_a_sibling_of_the_landing_area():
    assert default_truth_dir(Path("/data/demo/landing")) == Path("/data/demo/truth")


def test_months_are_parsed_as_a_range():
    assert parse_months("2025-04..2026-03") == ("2025-04", "2026-03")
    assert parse_months("2025-07") == ("2025-07", "2025-07")


@pytest.mark.parametrize("kwargs", [{"persons": 0}, {"fault_rate": 1.5}, {"months": ("2026-03", "2025-04")}])
def test_bad_arguments_are_refused(tmp_path, kwargs):
    with pytest.raises(ValueError):
        generate(**{"persons": 10, "landing": tmp_path / "landing", "truth": tmp_path / "truth", **kwargs})


def test_truth_inside_the_landing_area_is_refused(tmp_path):
    with pytest.raises(ValueError):
        generate(10, tmp_path / "landing", tmp_path / "landing" / "truth")


def test_module_entry_point_generates_a_short_window(tmp_path, capsys):
    assert main(["--persons", "50", "--landing", str(tmp_path / "landing"), "--months", "2025-04..2025-05",
                 "--fault-rate", "0.1"]) == 0
    capsys.readouterr()
    summary = (tmp_path / "truth" / "manifest.json").read_text(encoding="utf-8")
    assert '"persons": 50' in summary and '"fault_rate": 0.1' in summary
    assert sorted(p.name for p in (tmp_path / "landing" / "mhsds" / "RZZ").iterdir()) == ["2025-04", "2025-05"]
