"""The Makefile's torch selection (TORCH, TORCH_INDEX) and the CI script, checked without installing anything."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _dry_run(tmp_path: Path, *overrides: str) -> list[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    cmd = ["make", "-n", "test", f"VENV={tmp_path / 'venv'}", *overrides]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if "pip install" in line and " 'torch" in line]


def test_default_torch_comes_from_the_configured_index(tmp_path):
    (line,) = _dry_run(tmp_path)
    assert "'torch==2.13.0'" in line and "--index-url" not in line


def test_torch_index_selects_the_build_for_torch_alone(tmp_path):
    url = "https://wheels.invalid/cpu"
    (line,) = _dry_run(tmp_path, "TORCH=torch", f"TORCH_INDEX={url}")
    assert line.endswith(f"--index-url '{url}' 'torch'")
    lines = subprocess.run(["make", "-n", "test", f"VENV={tmp_path / 'venv'}", f"TORCH_INDEX={url}"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.splitlines()
    assert sum(url in line for line in lines) == 1  # gmmtheory and its other dependencies keep pip's index


def test_ci_script_runs_make_test_and_the_wheel_check():
    script = ROOT / ".ci" / "run"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text(encoding="utf-8")
    assert "all) wheel_check; make test ;;" in text and "set -euo pipefail" in text  # pytest's summary last
    steps = ("pip wheel", "-m venv", "gmmtheory\" --version", "gmmtheory\" entropy", "gmmtheory\" rate", "rate.png")
    for step in steps:
        assert step in text, step
    bad = subprocess.run(["bash", str(script), "nonsense"], capture_output=True, text=True)
    assert bad.returncode == 2 and "usage" in bad.stderr
