"""`gmmtheory guidance --exact`: the exact two-Gaussian study from the command line."""

import json

from gmmtheory.cli.main import main


def test_guidance_exact_json(capsys, tmp_path):
    rc = main(["guidance", "--exact", "--d", "10,1e4", "--w", "1,2", "--intervals", "all", "--json",
               "--out", str(tmp_path)])
    assert rc == 0
    env = json.loads(capsys.readouterr().out)
    assert len(env["rows"]) == 4 and (tmp_path / "guidance_exact.json").exists()


def test_guidance_exact_bad_inputs(capsys):
    assert main(["guidance", "--exact", "--w", "0.5", "--d", "10"]) == 2
    assert "--w" in capsys.readouterr().err
    assert main(["guidance", "--grids", "--d", "10"]) == 2
    assert "--exact" in capsys.readouterr().err
