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


def test_guidance_exact_hierarchy_json(capsys, tmp_path):
    """--preset hierarchical: the multiclass rows per partition; full CFG shifts each of coarse and sub like two
    Gaussians (the hierarchy's posterior factorises into two two-Gaussian flows; Δt(w = 3) = 0.822 there)."""
    rc = main(["guidance", "--exact", "--preset", "hierarchical", "--d", "1e6", "--w", "1,3", "--intervals", "all",
               "--n-nodes", "10", "--json", "--out", str(tmp_path)])
    assert rc == 0
    env = json.loads(capsys.readouterr().out)
    rows = {(r["partition"], r["w"]): r for r in env["rows"]}
    assert set(rows) == {(p, w) for p in ("classes", "coarse", "sub") for w in (1.0, 3.0)}
    for p in ("coarse", "sub"):
        assert abs(rows[(p, 3.0)]["shift_t"] - 0.822) < 5e-3
    assert (tmp_path / "guidance_exact_multiclass.json").exists()
    assert not (tmp_path / "guidance_exact.json").exists()


def test_guidance_exact_multiclass_bad_inputs(capsys):
    assert main(["guidance", "--exact", "--preset", "kclasses", "--intervals", "edm2", "--d", "10"]) == 2
    assert "--intervals" in capsys.readouterr().err
    assert main(["guidance", "--exact", "--preset", "kclasses", "--grids", "--d", "10"]) == 2
    assert "--grids" in capsys.readouterr().err
    assert main(["guidance", "--exact", "--n-nodes", "1", "--d", "10"]) == 2
    assert "--n-nodes" in capsys.readouterr().err
    assert main(["guidance", "--exact", "--n-nodes", "4", "--d", "10"]) == 2  # two Gaussians need ≥ 8 nodes
    assert "--n-nodes must be an integer ≥ 8" in capsys.readouterr().err
    assert main(["guidance", "--n-nodes", "8"]) == 2
    assert "--exact" in capsys.readouterr().err
