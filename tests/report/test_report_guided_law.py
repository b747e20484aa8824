"""The report section on the two open problems (smoke size)."""

import pytest

from gmmtheory.report.guided_law import section_guided_law


@pytest.mark.slow
def test_section_guided_law_smoke(tmp_path):
    md = section_guided_law(tmp_path, "smoke")
    assert "open problems" in md and "First-order law" in md
    assert (tmp_path / "guided_law_shift.png").exists() and (tmp_path / "guided_law_rates.png").exists()


def test_section_guided_law_bad_size(tmp_path):
    with pytest.raises(ValueError, match="size"):
        section_guided_law(tmp_path, "big")
