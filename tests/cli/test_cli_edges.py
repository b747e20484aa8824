"""The command line at its edges (issue 13, items 8, 11, 16–19, --version): options act or are refused, bad input
gives one line and exit status 2 before any computation, one strict-JSON / CSV envelope, a process-aware default
time grid, one range syntax, figures with their bands, landmarks and labels. Every CLI run is in-process
(``cli.main``); reference values are closed forms or scipy quadrature."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, special

from gmmtheory import cli
from gmmtheory.cli import curves as cli_curves


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = cli.main(list(argv))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def strict_json(text: str):
    """json.loads that refuses NaN / Infinity (as strict parsers do)."""
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def assert_one_line_error(rc: int, out: str, err: str, *needles: str) -> None:
    assert rc == 2
    assert out == ""  # nothing computed or printed before the error
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def binary_entropy_ou(t: float, d: int, mu: float = 1.0) -> float:
    """H[Z | X_t] of two Gaussians ±m (|m|² = d μ̃², unit variance) in OU time, by scipy quadrature: the log-odds
    L = 2a⟨m, x⟩ (a²+σ² = 1) is N(2a²|m|², 4a²|m|²) given z = +, and H = E log(1 + e^{−L})."""
    a2 = math.exp(-2 * t)
    m2 = d * mu**2
    mean, sd = 2 * a2 * m2, 2 * math.sqrt(a2 * m2)
    f = lambda u: np.logaddexp(0.0, -(mean + sd * u)) * math.exp(-u * u / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    return integrate.quad(f, -12, 12, epsabs=1e-13)[0]


# ------------------------------------------------------------------------------------------------ --version
def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"gmmtheory {metadata.version('gmmtheory')}"


# ------------------------------------------------------------------------- item 17: the envelope, strict JSON
@pytest.mark.slow
def test_entropy_json_envelope_matches_quadrature(capsys):
    rc, out, _ = run(capsys, "entropy", "--d", "10", "--t", "0.5,1.5", "--json")
    assert rc == 0
    env = strict_json(out)
    meta = env["meta"]
    for key in ("gmmtheory", "mixture", "process", "method", "draws", "key", "time_variable", "time_units", "sigma",
                "H_Z"):
        assert key in meta, key
    assert meta["gmmtheory"] == metadata.version("gmmtheory") and meta["process"] == "OU()"
    assert meta["K"] == 2 and isinstance(meta["K"], int) and meta["d"] == 10 and isinstance(meta["d"], int)
    assert meta["H_Z"] == pytest.approx(math.log(2), rel=1e-14)
    assert meta["method"] == "quadrature" and meta["draws"] is None  # exact: no draws
    for r in env["rows"]:
        assert r["H"] == pytest.approx(binary_entropy_ou(r["t"], 10), abs=1e-9)
        assert r["I"] == pytest.approx(math.log(2) - binary_entropy_ou(r["t"], 10), abs=1e-9)
        for q in ("H", "I", "phi", "bayes_error"):
            assert f"{q}_stderr" in r
        # the σ column is the EDM noise level e^{−λ/2}: for OU, σ² = e^{2t} − 1
        assert r["sigma"] == pytest.approx(math.sqrt(math.expm1(2 * r["t"])), rel=1e-12)
    assert "σ_t/a_t" in env["columns"]["sigma"]


def test_landmarks_json_is_strict_with_integer_counts(capsys):
    rc, out, _ = run(capsys, "landmarks", "--preset", "two", "--d", "1000", "--process", "edm", "--json")
    assert rc == 0
    env = strict_json(out)  # t_covariance_speciation is nan for this mixture: written as null
    row = env["rows"][0]
    assert row["t_covariance_speciation"] is None
    assert row["d"] == 1000 and isinstance(row["d"], int) and isinstance(row["K"], int)
    np.testing.assert_allclose(row["top_eigenvalue"], 1001.0, rtol=1e-12)
    # item 8: every log σ field names the σ definition
    sigma_fields = [k for k in env["columns"] if "log_sigma" in k]
    assert sigma_fields and all("σ_t/a_t" in env["columns"][k] for k in sigma_fields)


def test_csv_has_metadata_comments_then_header(capsys):
    rc, out, _ = run(capsys, "rate", "--d", "10", "--t", "0.5,1.5", "--wrt", "log_sigma", "--csv")
    assert rc == 0
    lines = out.splitlines()
    comments = [ln for ln in lines if ln.startswith("# ")]
    assert lines[: len(comments)] == comments  # metadata first
    meta = dict(ln[2:].split(": ", 1) for ln in comments if not ln.startswith("# column "))
    assert meta["command"] == "rate" and meta["wrt"] == "log_sigma" and meta["gmmtheory"] == metadata.version(
        "gmmtheory")
    assert "σ_t/a_t" in next(ln for ln in comments if ln.startswith("# column dH/dlog_sigma:"))
    rows = list(csv.DictReader(io.StringIO("\n".join(lines[len(comments):]))))
    assert [float(r["t"]) for r in rows] == [0.5, 1.5] and "stderr" in rows[0]


# -------------------------------------------------------------------- item 18: default grid, one range syntax
@pytest.mark.slow
def test_default_grid_is_log_snr_mapped_into_each_process(capsys):
    rc, out, _ = run(capsys, "entropy", "--d", "10", "--process", "flow", "--json")
    assert rc == 0  # the old default 0.1:5:12 lies outside flow's [0, 1]
    t = np.array([r["t"] for r in strict_json(out)["rows"]])
    lam = np.linspace(10, -10, 21)
    np.testing.assert_allclose(t, special.expit(-lam / 2), rtol=1e-12)  # flow: λ = 2 log((1 − t)/t)
    rc, out, _ = run(capsys, "entropy", "--d", "10", "--process", "vp", "--json")
    assert rc == 0
    rc, out, _ = run(capsys, "entropy", "--d", "10", "--process", "ddpm", "--json")
    rows = strict_json(out)["rows"]
    assert rc == 0 and rows[-1]["t"] > 900  # step indices up to nearly pure noise, not only t ≤ 5
    assert rows[-1]["H"] > 0.99 * math.log(2)


def test_log_spaced_times(capsys):
    rc, out, _ = run(capsys, "rate", "--d", "10", "--process", "edm", "--t", "0.1:100:4:log", "--json")
    assert rc == 0
    np.testing.assert_allclose([r["t"] for r in strict_json(out)["rows"]], [0.1, 1.0, 10.0, 100.0], rtol=1e-12)


@pytest.mark.parametrize("spec", ["1:2:0", "1:2", "a:b:3", "1:2:3:lin"])
def test_logtime_bad_dims(capsys, spec):
    assert_one_line_error(*run(capsys, "logtime", "--dims", spec), "--dims")


# ---------------------------------------------------------------------------- item 16: one line, exit status 2
def test_out_is_an_existing_file(capsys, tmp_path):
    f = tmp_path / "taken"
    f.write_text("x")
    assert_one_line_error(*run(capsys, "entropy", "--d", "10", "--t", "1", "--out", str(f)), "--out", "existing file")
    assert f.read_text() == "x"


def test_out_cannot_be_created(capsys, tmp_path):
    f = tmp_path / "taken"
    f.write_text("x")
    assert_one_line_error(*run(capsys, "rate", "--d", "10", "--t", "1", "--out", str(f / "sub")), "--out")


def test_phase_bad_values(capsys):
    assert_one_line_error(*run(capsys, "phase", "--x", "d", "--x-values", "abc"), "--x-values")


def test_missing_mixture_file(capsys, tmp_path):
    assert_one_line_error(*run(capsys, "entropy", "--mixture", str(tmp_path / "none.json")), "none.json")


def test_malformed_json_mixture_names_the_file(capsys, tmp_path):
    f = tmp_path / "broken.json"
    f.write_text('{"means": [[1, 2]')
    assert_one_line_error(*run(capsys, "entropy", "--mixture", str(f)), "broken.json", "JSON")


@pytest.mark.slow
def test_one_class(capsys, tmp_path):
    assert_one_line_error(*run(capsys, "entropy", "--preset", "kclasses", "--K", "1"), "--K")
    f = tmp_path / "one.json"
    f.write_text('{"means": [[0.0, 1.0]]}')
    rc, out, _ = run(capsys, "entropy", "--mixture", str(f), "--t", "1")
    assert rc == 0 and "-0.0" not in out and "# H_Z: 0.0" in out


def test_argparse_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["entropy", "--d", "ten"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--d" in err[0]


@pytest.mark.slow
def test_bridge_without_torch_gives_install_hint(tmp_path):
    code = ("import sys\n"
            "class NoTorch:  # torch not installed: its import fails as it would then\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'torch':\n"
            "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
            "sys.meta_path.insert(0, NoTorch())\n"
            "from gmmtheory.cli import main\n"
            f"sys.exit(main(['bridge', 'gmm', '--out', {str(tmp_path)!r}]))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install" in lines[0] and "torch" in lines[0] and "Traceback" not in res.stderr


# ---------------------------------------------------------------------- item 11: options act or are refused
@pytest.mark.slow
def test_control_process_converts_the_window(capsys):
    rows = {}
    for proc in ("ou", "ve"):
        rc, out, _ = run(capsys, "control", "window", "--d", "8", "--mu", "0.5", "--process", proc, "--json")
        assert rc == 0
        rows[proc] = strict_json(out)["rows"][0]
    ou, ve = rows["ou"], rows["ve"]
    assert ou["sigma_lo"] == ve["sigma_lo"] and ou["sigma_hi"] == ve["sigma_hi"]  # σ does not depend on it
    # OU: λ = −log(e^{2t} − 1) = −2 log σ ⇒ t = ½ log(1 + σ²); VE: λ = −log t ⇒ t = σ²
    for end in ("lo", "hi"):
        s = ou[f"sigma_{end}"]
        assert ou[f"t_{end}"] == pytest.approx(0.5 * math.log1p(s * s), rel=1e-12)
        assert ve[f"t_{end}"] == pytest.approx(s * s, rel=1e-12)


@pytest.mark.parametrize("argv, needle", [
    (["control", "window", "--d", "8", "--w", "3"], "--w"),
    (["control", "front", "--d", "8", "--process", "vp"], "--process"),
    (["control", "schedule", "--d", "8", "--fraction", "0.5"], "--fraction"),
    (["entropy", "--d", "8", "--K", "3"], "--K"),
    (["entropy", "--method", "quadrature", "--n-samples", "100"], "--n-samples"),
    (["phase", "--x", "d", "--x-values", "10,20", "--y-values", "1,2"], "--y-values"),
    (["phase", "--x", "d", "--x-values", "10,20", "--d", "30"], "--d"),
    (["phase", "--x", "d", "--x-values", "10,20", "--ratio", "0.3"], "--ratio"),
])
def test_options_that_would_not_act_are_refused(capsys, argv, needle):
    assert_one_line_error(*run(capsys, *argv), needle)


def test_preset_options_are_refused_with_a_mixture_file(capsys, tmp_path):
    f = tmp_path / "m.json"
    f.write_text('{"means": [[1.0, 0.0], [-1.0, 0.0]]}')
    assert_one_line_error(*run(capsys, "entropy", "--mixture", str(f), "--d", "5"), "--d", "--mixture")


# ------------------------------------------------------------------------------------------- item 19: figures
@pytest.fixture
def figures(monkeypatch):
    """Record what every figure shows (axis scales and labels, legend, band colours) before it is saved (keyed by
    the file's stem: the figure's name, whichever module saves it)."""
    import matplotlib.colors
    import matplotlib.figure

    seen: dict[str, dict] = {}
    savefig = matplotlib.figure.Figure.savefig

    def record(fig, fname, *a, **k):
        ax = fig.axes[0]
        bands = [c for c in ax.collections if len(c.get_paths())]
        seen[Path(fname).stem] = {
            "xscale": ax.get_xscale(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
            "legend": [t.get_text() for t in ax.get_legend().get_texts()] if ax.get_legend() else [],
            "band_colours": [tuple(c.get_facecolor()[0][:3]) for c in bands],
            "line_colours": [tuple(matplotlib.colors.to_rgb(ln.get_color())) for ln in ax.lines]}
        return savefig(fig, fname, *a, **k)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", record)
    return seen


@pytest.mark.slow
def test_rate_figure_labels_marks_and_band(capsys, tmp_path, figures):
    rc, _, _ = run(capsys, "rate", "--d", "10", "--process", "edm", "--t", "0.3:30:9:log", "--wrt", "log_sigma",
                   "--out", str(tmp_path))
    assert rc == 0 and (tmp_path / "rate.png").stat().st_size > 0
    f = figures["rate"]
    assert f["xscale"] == "log" and "σ" in f["xlabel"]
    assert "σ = σ_t/a_t" in f["ylabel"] and "d log σ" in f["ylabel"]
    assert any(t.startswith("t_S") for t in f["legend"]) and any("half-entropy" in t for t in f["legend"])
    assert f["band_colours"][0] == f["line_colours"][0]  # the ±2 stderr band takes its curve's colour


@pytest.mark.slow
def test_control_window_writes_a_figure(capsys, tmp_path, figures):
    rc, _, _ = run(capsys, "control", "window", "--d", "8", "--mu", "0.5", "--out", str(tmp_path))
    assert rc == 0
    for name in ("control_window.png", "control_window.pdf", "control_window.json", "control_window.csv"):
        assert (tmp_path / name).exists(), name
    f = figures["control_window"]
    assert f["xscale"] == "log" and "σ_t/a_t" in f["xlabel"]
    assert any(t.startswith("t_S") for t in f["legend"]) and any("half-entropy" in t for t in f["legend"])
    strict_json((tmp_path / "control_window.json").read_text())


@pytest.mark.slow
def test_guidance_writes_a_figure(capsys, tmp_path, figures):
    rc, out, _ = run(capsys, "guidance", "--preset", "two", "--d", "8", "--w", "1", "--intervals", "all",
                     "--n-samples", "16", "--n-steps", "8", "--out", str(tmp_path), "--json")
    assert rc == 0
    env = strict_json(out)
    assert env["meta"]["draws"] == 16 and "error_rate_stderr" in env["rows"][0]
    assert (tmp_path / "guidance_profiles.png").stat().st_size > 0
    assert any(t.startswith("t_S") for t in figures["guidance_profiles"]["legend"])


def test_logtime_dims_act_for_every_model_and_mu_is_refused_where_unused(capsys, monkeypatch):
    seen = {}
    study = cli_curves.logtime_study

    def record(dims, mu, **kw):
        seen.update(kw, dims=np.asarray(dims))
        return study(dims, mu, models=("two_gaussians",))  # the cheap model: only the wiring is under test

    monkeypatch.setattr(cli_curves, "logtime_study", record)
    rc, _, _ = run(capsys, "logtime", "--dims", "2,3", "--models", "k_classes", "--csv")
    assert rc == 0
    np.testing.assert_allclose(seen["dims"], [100.0, 1000.0], rtol=1e-14)
    np.testing.assert_allclose(seen["mc_dims"], [100.0, 1000.0], rtol=1e-14)  # not the default (1e2, 1e4, 1e6)
    monkeypatch.undo()
    assert_one_line_error(*run(capsys, "logtime", "--models", "covariance_only", "--mu", "2"), "--mu")


@pytest.mark.slow
def test_phase_json_is_strict_with_the_envelope(capsys):
    rc, out, _ = run(capsys, "phase", "--x", "d", "--x-values", "10,100", "--t", "0.5:3:6", "--json", "--no-progress")
    assert rc == 0
    env = strict_json(out)  # landmarks off the grid (nan) are null
    assert env["meta"]["command"] == "phase" and env["meta"]["gmmtheory"] == metadata.version("gmmtheory")
    assert [r["d"] for r in env["rows"]] == [10, 100] and all(isinstance(r["d"], int) for r in env["rows"])
    assert any(v is None for r in env["rows"] for v in r.values())
    t = np.linspace(0.5, 3, 6)
    np.testing.assert_allclose(env["values"]["H"][0], [binary_entropy_ou(ti, 10) for ti in t], atol=1e-9)
