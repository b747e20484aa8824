"""The benchmark suite: a smoke run of every module, the README table plumbing, and the naive baselines' correctness.

Speed is never asserted. The naive numpy/scipy baselines are checked against gmmtheory's *exact* methods
(quadrature, closed-form rate, exact denoisers) — independent code paths — Monte Carlo within 4 standard errors.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import gmmtheory as gt
from benchmarks import _naive, agreement, run_all

ROOT = Path(__file__).resolve().parents[1]
OU = gt.OU()


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    readme_before = run_all.README.read_text()
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run_all", "--quick", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert run_all.README.read_text() == readme_before  # --quick leaves the README alone
    return json.loads(out.read_text())


@pytest.mark.slow
def test_quick_run_covers_every_module_and_row(quick_run):
    assert set(quick_run["modules"]) == set(run_all.benchmark_modules())
    for name, res in quick_run["modules"].items():
        assert res["meta"]["jax_backend"] and res["meta"]["cpu"], name
        assert res["rows"], name
        for r in res["rows"]:
            assert r["benchmark"] and r["size"] and "ratio_text" in r and "stderr_text" in r, (name, r)
            assert r.get("recompiles") in (None, 0), (name, r["benchmark"], r["recompiles"])  # no recompilation


@pytest.mark.slow
def test_quick_run_estimates_agree_with_naive(quick_run):
    """Every Monte Carlo comparison in the smoke run agreed within 4 combined standard errors."""
    em = quick_run["modules"]["entropy_methods"]["detail"]
    checks = [v["agreement"] for k, v in em["two_gaussians"].items()] + [em["kclasses_shared"]["agreement"]]
    checks += list(em["mc_d32"]["agreement"].values())
    wf = quick_run["modules"]["workflows"]["detail"]
    checks += [wf["rate"]["denoiser_gap"]["agreement"], wf["rate"]["autodiff"]["agreement"],
               wf["guided"]["agreement"]]
    assert all(c["all_agree"] for c in checks), checks
    assert max(wf["phase"]["max_abs_diff"].values()) < 1e-8


@pytest.mark.slow
def test_from_json_rewrites_only_its_block(quick_run, tmp_path):
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps(quick_run))
    readme = tmp_path / "README.md"
    readme.write_text("head\n<!-- table:start -->\nold cpu\n<!-- table:end -->\nmiddle\n"
                      "<!-- gpu-table:start -->\nold gpu\n<!-- gpu-table:end -->\ntail\n")
    assert run_all.main(["--from-json", str(saved), "--block", "gpu-table", "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old cpu" in text and "old gpu" not in text and text.startswith("head\n") and text.endswith("tail\n")
    block = text.split("<!-- gpu-table:start -->")[1].split("<!-- gpu-table:end -->")[0]
    assert "| benchmark |" in block and "speed-up" in block and "device" in block
    n_rows = sum(len(m["rows"]) for m in quick_run["modules"].values())
    assert block.count("\n| ") == n_rows + 1  # header + one line per row


@pytest.mark.slow
def test_from_json_rejects_missing_markers(quick_run, tmp_path):
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps(quick_run))
    readme = tmp_path / "README.md"
    readme.write_text("no markers here\n")
    with pytest.raises(SystemExit, match="markers"):
        run_all.main(["--from-json", str(saved), "--readme", str(readme)])
    assert readme.read_text() == "no markers here\n"


# ------------------------------------------------------------------------ the naive baselines are correct
T = np.array([0.3, 1.0, 2.0])


def _ou(t):
    return np.exp(-t), np.sqrt(-np.expm1(-2 * t))


def test_naive_entropy_baselines_match_quadrature():
    mix = gt.two_gaussians(6, mu=0.6)
    exact = gt.class_entropy(mix, OU, T, method="quadrature").value
    a, s = _ou(T)
    means, w = np.array(mix.means), np.array(mix.weights)
    v, se = _naive.entropy_shared_iso(means, 1.0, w, a, s, 2000, seed=1)
    assert agreement(v, se, exact, 0 * se)["all_agree"]
    covs = np.stack([np.eye(6)] * 2)
    v, se = _naive.entropy_full_cov(means, covs, w, a, s, 2000, seed=2)
    assert agreement(v, se, exact, 0 * se)["all_agree"]


def test_naive_rate_matches_closed_form():
    mix = gt.two_gaussians(5, mu=0.7)
    exact = gt.entropy_rate(mix, OU, T, method="closed_form").value
    a, s = _ou(T)
    v, se = _naive.rate_denoiser_gap(np.array(mix.means), np.stack([np.eye(5)] * 2), np.array(mix.weights), a, s,
                                     -2 * a**2 / s**4, 3000, seed=3)
    assert agreement(v, se, exact, 0 * se)["all_agree"]


def test_naive_phase_cells_match_library():
    dims, t = np.array([10, 1000]), np.array([0.5, 2.0, 4.0])
    ref = _naive.phase_two_gaussians(dims, t)
    for i, d in enumerate(dims):
        mix = gt.two_gaussians(int(d))
        np.testing.assert_allclose(ref["H_norm"][i], gt.class_entropy(mix, OU, t).value / math.log(2), atol=1e-9)
        np.testing.assert_allclose(ref["rate"][i], gt.entropy_rate(mix, OU, t).value, atol=1e-9)
        np.testing.assert_allclose(ref["phi"][i], gt.collision_probability(mix, OU, t).value, atol=1e-9)
        np.testing.assert_allclose(ref["bayes_error"][i], gt.bayes_error(mix, OU, t).value, atol=1e-9)


@pytest.mark.slow
def test_naive_denoiser_matches_exact_posterior_mean():
    mix = gt.random_mixture(jax.random.PRNGKey(0), 3, 5, "class_full")
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (7, 5), dtype=np.float64)) * 2
    sigma = 0.8
    ref = np.asarray(gt.denoiser(mix, gt.VE(), sigma**2, x))  # VE: x = x_0 + √t ε, t = σ²
    out = _naive.gmm_denoiser(np.array(mix.means), np.array(mix.component_covariances()), np.array(mix.weights),
                              x, sigma)
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)


def test_naive_edm_grid():
    s = _naive.edm_sigmas(64)
    assert s.size == 65 and s[-1] == 0 and math.isclose(s[0], 80.0) and math.isclose(s[-2], 0.002)
    assert np.all(np.diff(s) < 0)
