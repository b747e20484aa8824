"""The rate, landmarks and logtime subcommands print what the library computes."""

from __future__ import annotations

import json

import numpy as np
import pytest

import gmmtheory as gt
from gmmtheory import cli


def test_cli_rate_json(capsys):
    assert cli.main(["rate", "--preset", "two", "--d", "100", "--t", "1,2.5", "--wrt", "log_snr", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    expected = gt.entropy_rate(gt.two_gaussians(100), gt.OU(), np.array([1.0, 2.5]), wrt="log_snr").value
    np.testing.assert_allclose([r["dH/dlog_snr"] for r in rows], expected, rtol=1e-12)
    assert all(r["dH/dlog_snr"] <= 0 for r in rows)


@pytest.mark.slow
def test_cli_landmarks_json(capsys):
    assert cli.main(["landmarks", "--preset", "two", "--d", "1000", "--process", "edm", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["rows"][0]
    np.testing.assert_allclose(out["top_eigenvalue"], 1001.0, rtol=1e-12)
    np.testing.assert_allclose(out["t_speciation"], float(gt.OU().convert(0.5 * np.log(1001.0), gt.EDM())), rtol=1e-9)


@pytest.mark.slow
def test_cli_logtime_writes_table_and_figure(tmp_path, capsys):
    assert cli.main(["logtime", "--dims", "1:3:3", "--out", str(tmp_path), "--csv"]) == 0
    lines = [ln for ln in capsys.readouterr().out.strip().splitlines() if not ln.startswith("#")]
    assert len(lines) == 4 and lines[0].startswith("model,level,d")
    assert (tmp_path / "logtime.csv").exists() and (tmp_path / "logtime.png").exists()


@pytest.mark.slow
def test_cli_entropy_and_rate_write_figures(tmp_path):
    assert cli.main(["entropy", "--preset", "two", "--d", "30", "--t", "0.5:3:5", "--out", str(tmp_path)]) == 0
    assert cli.main(["rate", "--preset", "two", "--d", "30", "--t", "0.5:3:5", "--out", str(tmp_path)]) == 0
    for stem in ("entropy", "rate"):
        assert (tmp_path / f"{stem}.png").stat().st_size > 0 and (tmp_path / f"{stem}.pdf").exists()
