"""Every sympy derivation in derivations/ runs, checks its closed form against the library, and renders Markdown."""

import importlib
import sys
from pathlib import Path

import pytest

pytest.importorskip("sympy", reason="the derivations need sympy: pip install 'gmmtheory[derivations]'")

DERIVATIONS = Path(__file__).resolve().parent.parent / "derivations"
SCRIPTS = ("binary_channel", "collision_mmse", "denoiser_gap", "speciation_hessian", "process_conversions",
           "reduced_dynamics")


@pytest.fixture(scope="module")
def derivations_path():
    sys.path.insert(0, str(DERIVATIONS))
    yield
    sys.path.remove(str(DERIVATIONS))


@pytest.mark.parametrize("name", SCRIPTS)
@pytest.mark.slow
def test_derivation_runs_and_renders(name, tmp_path, derivations_path):
    module = importlib.import_module(name)
    text = module.main(tmp_path)  # raises AssertionError if any symbolic or numerical check fails
    assert isinstance(text, str) and text.startswith("# ")
    assert "$$" in text and "| check |" in text
    assert "FAIL" not in text
    written = tmp_path / f"{name}.md"
    assert written.read_text(encoding="utf-8") == text


def test_run_all_lists_every_script(derivations_path):
    run_all = importlib.import_module("run_all")
    assert set(run_all.SCRIPTS) == set(SCRIPTS)
    on_disk = {p.stem for p in DERIVATIONS.glob("*.py")} - {"_common", "run_all"}
    assert on_disk == set(SCRIPTS)
