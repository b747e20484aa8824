"""Smoke test of the reliability campaign (benchmarks/reliability.py): its enumeration runs and every case of a
small, fast subset is classified. The campaign's counts are measured, never asserted here."""

from __future__ import annotations

from pathlib import Path

from benchmarks import reliability as rel


def test_enumeration_has_unique_names_in_both_families():
    cases = rel.enumerate_cases()
    names = [c.name for c in cases]
    assert len(names) == len(set(names))
    assert {c.family for c in cases} == {"bad_input", "fault"}
    assert all(c.kind in ("api", "cli", "fault") for c in cases)


def test_every_case_of_a_fast_subset_is_classified(tmp_path: Path):
    cheap = ("mixture", "process", "partition", "method", "precision", "types")
    cases = rel.enumerate_cases()
    subset = [c for cat in cheap for c in [c for c in cases if c.category == cat and c.accept is None][:3]]
    subset += [c for c in cases if c.name in ("cli_options/rate --wrt 'sigma'", "mixture_file/.npz truncated to 50%")]
    assert len(subset) == 3 * len(cheap) + 2
    outcomes = rel.run_campaign(subset, tmp=tmp_path)
    assert [o.name for o in outcomes] == [c.name for c in subset]
    for o in outcomes:  # every case of the subset is handled now (the campaign's "before" run failed some)
        assert o.outcome in rel.OK_OUTCOMES, (o.name, o.outcome, o.reason)
        assert o.reason, o.name
    table = rel.format_table(outcomes)
    assert "bad inputs" in table and "faults" in table
