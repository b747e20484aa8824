"""Packaging, public API and command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import gmmtheory as gt
from gmmtheory import cli


@pytest.mark.slow
def test_import_does_not_pull_torch_or_diffusers():
    code = "import sys, gmmtheory; bad = [m for m in ('torch', 'diffusers', 'sklearn') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


@pytest.mark.slow
def test_default_jax_config_gives_float64_results_without_warnings():
    # a user's script does not enable x64: results must be the float64 ones this suite computes (x64 on, conftest),
    # with no dtype-truncation warning on the way
    code = """
import json, warnings
warnings.simplefilter("error")
import jax, numpy as np, gmmtheory as gt
assert not jax.config.jax_enable_x64
m = gt.random_mixture(jax.random.PRNGKey(0), K=3, d=4)
x, z = m.sample(jax.random.PRNGKey(1), 5)
h = gt.class_entropy(m, gt.OU(), [0.5, 1.0])
tr = gt.simulate(m, n_samples=16, n_steps=8, key=0, guidance="interval", w=2.0, interval=(0.5, float("inf")),
                 label="prior")
print(json.dumps({"means": m.means.tolist(), "x": x.tolist(), "h": h.value.tolist(), "dtype": str(h.value.dtype),
                  "lp": tr.final_log_post.tolist(), "lp_dtype": str(tr.final_log_post.dtype)}))
"""
    out = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True).stdout)
    m = gt.random_mixture(jax.random.PRNGKey(0), K=3, d=4)
    x, _ = m.sample(jax.random.PRNGKey(1), 5)
    h = gt.class_entropy(m, gt.OU(), [0.5, 1.0])
    tr = gt.simulate(m, n_samples=16, n_steps=8, key=0, guidance="interval", w=2.0, interval=(0.5, float("inf")),
                     label="prior")
    assert out["dtype"] == out["lp_dtype"] == "float64"
    np.testing.assert_allclose(out["lp"], tr.final_log_post, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(out["means"], m.means)
    np.testing.assert_array_equal(out["x"], x)
    np.testing.assert_allclose(out["h"], h.value, rtol=1e-12)


def test_public_api_is_exported():
    for name in gt.__all__:
        assert hasattr(gt, name), name


def test_cli_entropy_json_matches_library(capsys):
    assert cli.main(["entropy", "--preset", "two", "--d", "50", "--t", "0.5,1.5", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    expected = gt.class_entropy(gt.two_gaussians(50), gt.OU(), np.array([0.5, 1.5])).value
    np.testing.assert_allclose([r["H"] for r in rows], expected, rtol=1e-12)
    assert [r["t"] for r in rows] == [0.5, 1.5]


@pytest.mark.slow
def test_cli_mixture_file_and_csv(tmp_path, capsys):
    path = tmp_path / "mix.json"
    path.write_text(json.dumps({"means": [[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0]], "cov": [1.0, 0.5, 2.0]}))
    assert cli.main(["entropy", "--mixture", str(path), "--t", "0.1:1:3", "--csv", "--n-samples", "512"]) == 0
    lines = [line for line in capsys.readouterr().out.strip().splitlines() if not line.startswith("#")]
    header = lines[0].split(",")
    assert header[0] == "t" and {"H", "H_stderr"} <= set(header) and len(lines) == 4


def test_cli_bad_input_is_a_clear_error(capsys):
    assert cli.main(["entropy", "--preset", "two", "--d", "5", "--t", "-1"]) == 2
    assert "t must lie" in capsys.readouterr().err
    assert cli.main(["entropy", "--t", "a:b"]) == 2
    assert "--t must be" in capsys.readouterr().err


@pytest.mark.slow
def test_module_entry_point_help():
    out = subprocess.run([sys.executable, "-m", "gmmtheory", "--help"], capture_output=True, text=True, check=True)
    assert "report" in out.stdout and "examples" in out.stdout


@pytest.mark.slow
def test_report_quick(tmp_path, monkeypatch):
    from gmmtheory.report import writer
    from gmmtheory.report.writer import write_report

    # the bridge section trains a network and the exact-guidance section runs its own studies; both have their own
    # tests (tests/bridge/test_bridge_cli.py, tests/report/test_report_guided_law.py)
    skip = (writer.section_bridge, writer.section_guided_law)
    monkeypatch.setattr(writer, "SECTIONS", [s for s in writer.SECTIONS if s not in skip])
    path = write_report(tmp_path, quick=True)
    text = path.read_text()
    assert text.startswith("# gmmtheory report")
    for line in text.splitlines():
        if line.startswith("!["):
            assert (tmp_path / line.split("(")[1].rstrip(")")).exists()
    for heading in ("## Entropy and its rate", "## Log-time concentration (VP vs EDM)",
                    "## Partition entropies of a hierarchical mixture", "## Classes that differ only in covariance"):
        assert heading in text
    assert "docs/theory.md §6 checks" in text and "| two_gaussians | classes |" in text


def test_report_bridge_section_without_torch(tmp_path, monkeypatch):
    from gmmtheory.report import writer

    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    text = writer.section_bridge(tmp_path, "quick")
    assert text.startswith("## Bridge") and "pip install 'gmmtheory[bridge]'" in text


def test_markdown_table_formats_numbers_and_marks_not_applicable():
    from gmmtheory.report.style import markdown_table

    rows = [{"name": "a", "x": 0.123456, "n": 3, "ok": True, "se": float("nan")}]
    lines = markdown_table(rows, [("name", "name", ""), ("x", "x", ".3f"), ("n", "n", "d"), ("ok", "ok", ""),
                                  ("± se", "se", ".2g")])
    assert lines == ["| name | x | n | ok | ± se |", "|---|---|---|---|---|", "| a | 0.123 | 3 | True | – |"]


# ----------------------------------------------------------------------------------------------- packaging files
ROOT = Path(__file__).resolve().parent.parent


def _pyproject() -> dict:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _names(requirements: list[str]) -> dict[str, str]:
    import re

    out = {}
    for req in requirements:
        m = re.match(r"\s*([A-Za-z0-9_.\-]+(?:\[[^\]]*\])?)\s*(.*)", req)
        out[m.group(1).lower()] = m.group(2).strip()
    return out


def test_dependencies_core_extras_and_package_data():
    project = _pyproject()["project"]
    core = _names(project["dependencies"])
    assert "jaxlib" not in core  # jax pulls the matching jaxlib
    assert "sympy" not in core  # only derivations/ uses it
    assert core["scipy"] == ">=1.12"  # scipy.optimize.isotonic_regression
    assert set(core) == {"jax", "numpy", "scipy", "matplotlib", "tqdm", "jaxtyping"}  # jaxtyping: shape annotations
    extras = project["optional-dependencies"]
    test = _names(extras["test"])
    assert {"pytest", "hypothesis", "ruff", "import-linter", "beartype"} <= set(test)  # the house rules, shape checks
    assert _names(extras["derivations"]) == {"sympy": ">=1.12"}
    assert "gmmtheory[derivations]" in _names(extras["test"])  # the test suite runs the derivations
    assert project["license"] == {"text": "MIT"}
    data = _pyproject()["tool"]["setuptools"]["package-data"]["gmmtheory"]
    assert "py.typed" in data and "report/styles/*.mplstyle" in data
    assert (ROOT / "gmmtheory" / "report" / "styles" / "gmmtheory.mplstyle").is_file()
    assert (ROOT / "gmmtheory" / "py.typed").is_file()


def test_license_citation_and_changelog():
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License") and "Copyright (c) 2026 the gmmtheory authors" in license_text
    cff = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    assert cff.startswith("cff-version: 1.2.0") and "license: MIT" in cff
    for arxiv_id, title in (("2602.09651", "The Entropic Signature of Class Speciation in Diffusion Models"),
                            ("2402.18491", "Dynamical regimes of diffusion models")):
        assert f"arXiv:{arxiv_id}" in cff and title in cff
    version = _pyproject()["project"]["version"]
    assert f"version: {version}" in cff
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## Unreleased" in changelog and f"## {version}" in changelog


def test_version_comes_from_the_installed_distribution():
    from importlib.metadata import version

    assert gt.__version__ == version("gmmtheory") == _pyproject()["project"]["version"]


@pytest.mark.slow
def test_derivation_tests_skip_without_sympy():
    code = ("import sys; sys.modules['sympy'] = None; import pytest; "
            "sys.exit(pytest.main(['-q', '-rs', '-p', 'no:cacheprovider', 'tests/test_derivations.py']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 5 or "skipped" in out.stdout, out.stdout + out.stderr  # 5: nothing collected
    assert "pip install 'gmmtheory[derivations]'" in out.stdout and "error" not in out.stdout.lower()
