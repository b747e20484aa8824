"""Phase-diagram cache and files: fingerprints cover every value-changing argument, parts are checked on load and
recomputed (with a warning) when bad, corrupt meta.json is recovered, PhaseDiagram.load refuses tampered files with
one clear error, and every write is atomic (temporary file, fsync, rename)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

import gmmtheory as gt
from gmmtheory import phase
from gmmtheory.phase import cells

T = np.linspace(0.05, 8.0, 12)
FAST = dict(axes={"d": [10, 30, 100]}, t=T, chunk_size=1)  # three units of one row each


def _run(cache=None, **kw):
    return phase.phase_diagram(**{**FAST, **kw}, cache=cache, progress=False)


def _sweep_dir(root: Path, pd=None) -> Path:
    """The folder of the sweep's parts: from the result's metadata, else the only folder holding meta.json."""
    if pd is not None and isinstance(pd.meta.get("cache"), dict):
        return Path(pd.meta["cache"]["dir"])
    metas = sorted(Path(root).rglob("meta.json"))
    assert len(metas) == 1, metas
    return metas[0].parent


def _assert_same(pd, ref):
    assert set(pd.values) == set(ref.values)
    for k in ref.values:
        np.testing.assert_array_equal(pd.values[k], ref.values[k], err_msg=k)
        np.testing.assert_array_equal(pd.stderr[k], ref.stderr[k], err_msg=k)


# ------------------------------------------------------------------------- the fingerprint covers the process
@pytest.mark.slow
def test_two_discrete_vp_schedules_in_one_cache_folder_get_their_own_values(tmp_path):
    t = np.linspace(1.0, 38.0, 12)
    kw = dict(axes={"d": [10, 100]}, t=t, chunk_size=1)
    procs = [gt.VP.from_betas(np.linspace(1e-4, beta_end, 40)) for beta_end in (0.02, 0.05)]
    assert repr(procs[0]) == repr(procs[1])  # the old fingerprint used repr(process) only
    fresh = [phase.phase_diagram(**kw, process=p, progress=False) for p in procs]
    assert np.max(np.abs(fresh[0].values["H"] - fresh[1].values["H"])) > 0.05
    for p, ref in zip(procs, fresh):
        _assert_same(phase.phase_diagram(**kw, process=p, cache=tmp_path, progress=False), ref)
    again = phase.phase_diagram(**kw, process=procs[0], cache=tmp_path, progress=False)  # both stay resumable
    assert again.meta["n_computed"] == 0
    _assert_same(again, fresh[0])


def test_edm_sigma_data_differing_in_the_seventh_digit_get_their_own_values(tmp_path):
    kw = dict(axes={"d": [10, 100]}, t=np.geomspace(0.1, 30.0, 12), chunk_size=1)
    procs = [gt.EDM(sigma_data=0.5), gt.EDM(sigma_data=0.5000004)]
    assert repr(procs[0]) == repr(procs[1])
    fresh = [phase.phase_diagram(**kw, process=p, progress=False) for p in procs]
    assert np.any(fresh[0].values["H"] != fresh[1].values["H"])
    for p, ref in zip(procs, fresh):
        _assert_same(phase.phase_diagram(**kw, process=p, cache=tmp_path, progress=False), ref)


# ----------------------------------------------------------------------------------------------- unit layout
def test_a_changed_chunk_layout_is_detected_and_recomputed(tmp_path):
    _run(tmp_path, chunk_size=1)  # 3 units of 1 row
    ref = _run(chunk_size=2)
    with pytest.warns(UserWarning, match=r"part_000000\.npz: was written for another unit layout"):
        pd = _run(tmp_path, chunk_size=2)  # 2 units of 2 and 1 rows, same sweep
    assert pd.meta["n_computed"] == 2
    _assert_same(pd, ref)


# ------------------------------------------------------------------------------------------------- meta.json
class _Stop(Exception):
    pass


def _interrupted(cache) -> None:
    done = []

    def cb(cells):
        done.extend(cells)
        raise _Stop

    with pytest.raises(_Stop):
        _run(cache, callback=cb)
    assert done == [0]


@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_a_corrupt_meta_json_is_rewritten_and_the_sweep_resumes(tmp_path, damage):
    _interrupted(tmp_path)
    meta = _sweep_dir(tmp_path) / "meta.json"
    text = meta.read_bytes()
    meta.write_bytes(text[: len(text) // 2] if damage == "truncated" else b"")
    with pytest.warns(UserWarning, match=r"meta\.json: unreadable"):
        pd = _run(tmp_path)
    assert pd.meta["n_computed"] == 2  # the finished unit carries its own fingerprint: still reused
    _assert_same(pd, _run())
    json.loads(meta.read_text())  # rewritten whole


def test_stale_parts_of_another_sweep_with_meta_json_deleted_are_not_reused(tmp_path):
    a = _run(tmp_path)
    b = _run(tmp_path, params={"mu": 0.5})
    dir_a, dir_b = _sweep_dir(tmp_path, a), _sweep_dir(tmp_path, b)
    (dir_b / "meta.json").unlink()
    for part in dir_a.glob("part_*.npz"):  # another sweep's parts where this sweep's parts were
        (dir_b / part.name).write_bytes(part.read_bytes())
    with pytest.warns(UserWarning, match=r"part_000002\.npz: belongs to another sweep"):
        pd = _run(tmp_path, params={"mu": 0.5})
    assert pd.meta["n_computed"] == 3
    _assert_same(pd, _run(params={"mu": 0.5}))
    assert (dir_b / "meta.json").exists()


# ------------------------------------------------------------------------------------------------ cache parts
def _rewrite_npz(path: Path, edit) -> None:
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: np.array(data[k]) for k in data.files}
    edit(arrays)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _nan(arrays):
    key = next(k for k in arrays if k.startswith("v:H"))
    arrays[key][0, 3] = np.nan


def _drop_phi(arrays):
    for k in [k for k in arrays if k.endswith(":phi")]:
        del arrays[k]


_DAMAGE = {
    "truncated": lambda p, d: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "empty": lambda p, d: p.write_bytes(b""),
    "garbage": lambda p, d: p.write_bytes(b"\x80\x04garbage, not a cache part" * 8),
    "moved": lambda p, d: p.write_bytes((d / "part_000000.npz").read_bytes()),  # a valid part in the wrong slot
    "nan": lambda p, d: _rewrite_npz(p, _nan),
    "missing_quantity": lambda p, d: _rewrite_npz(p, _drop_phi),
}
_REASON = {"truncated": "unreadable", "empty": "unreadable", "garbage": "unreadable",
           "moved": "holds unit 0, not unit 1", "nan": "checksum", "missing_quantity": "missing"}


@pytest.mark.parametrize("damage", sorted(_DAMAGE))
def test_a_bad_part_is_recomputed_and_reported(tmp_path, damage):
    first = _run(tmp_path)
    part = _sweep_dir(tmp_path, first) / "part_000001.npz"
    _DAMAGE[damage](part, part.parent)
    with pytest.warns(UserWarning, match=rf"part_000001\.npz: [^;]*{_REASON[damage]}") as record:
        pd = _run(tmp_path)
    assert any(issubclass(w.category, phase.CacheWarning) for w in record)
    assert pd.meta["n_computed"] == 1
    assert [Path(r["file"]).name for r in pd.meta["cache"]["rejected"]] == ["part_000001.npz"]
    _assert_same(pd, _run())
    again = _run(tmp_path)  # the part was rewritten: no warning, nothing recomputed
    assert again.meta["n_computed"] == 0 and again.meta["cache"]["rejected"] == []


@pytest.mark.slow
def test_a_part_moved_between_cells_of_the_cell_loop_is_recomputed(tmp_path):
    kw = dict(axes={"d": [6, 12]}, t=T, model="kclasses", quantities=("H",), n_samples=64)
    first = phase.phase_diagram(**kw, cache=tmp_path, progress=False)
    d = _sweep_dir(tmp_path, first)
    (d / "part_000001.npz").write_bytes((d / "part_000000.npz").read_bytes())
    with pytest.warns(UserWarning, match=r"part_000001\.npz: holds unit 0"):
        pd = phase.phase_diagram(**kw, cache=tmp_path, progress=False)
    _assert_same(pd, phase.phase_diagram(**kw, progress=False))


def test_parts_are_read_without_pickle(tmp_path, monkeypatch):
    first = _run(tmp_path)
    seen = []
    real = np.load

    def spy(*a, **k):
        seen.append(k.get("allow_pickle"))
        return real(*a, **k)

    monkeypatch.setattr(np, "load", spy)
    assert _run(tmp_path).meta["n_computed"] == 0 and first.meta["n_units"] == 3
    assert seen == [False] * 3


# ------------------------------------------------------------------------------------------ PhaseDiagram.load
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    pd = phase.phase_diagram({"mu": [0.5, 1.0]}, T, params={"d": 50}, progress=False)
    path = pd.save(tmp_path_factory.mktemp("pd") / "diag.npz")
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: np.array(data[k]) for k in data.files}
    return path, arrays


def _write(path: Path, arrays: dict, keep_checksum: bool = True) -> Path:
    if not keep_checksum:
        meta = json.loads(str(arrays["meta"]))
        meta.pop("sha256", None)
        arrays = {**arrays, "meta": np.array(json.dumps(meta))}
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def _write_npy(path: Path) -> None:
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))


def _without(arrays, key):
    return {k: v for k, v in arrays.items() if k != key}


def _with(arrays, key, value):
    return {**arrays, key: value}


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p, a, src: p.write_bytes(src.read_bytes()[: src.stat().st_size // 2]), "truncated"),
        (lambda p, a, src: p.write_bytes(b""), "not an .npz archive, or truncated"),
        (lambda p, a, src: p.write_bytes(b"\x80\x04 not an archive at all" * 10), "not an .npz archive"),
        (lambda p, a, src: _write_npy(p), "a single .npy array"),
        (lambda p, a, src: _write(p, _without(a, "meta")), "missing key 'meta'"),
        (lambda p, a, src: _write(p, _with(a, "meta", np.array("{not json"))), "'meta' is not valid JSON"),
        (lambda p, a, src: _write(p, _without(a, "value:H")), "missing key 'value:H'"),
        (lambda p, a, src: _write(p, _without(a, "hprior:classes"), False), "missing key 'hprior:classes'"),
        (lambda p, a, src: _write(p, _with(a, "value:H", a["value:H"][:, :-1])), "checksum mismatch"),
        (lambda p, a, src: _write(p, _with(a, "value:H", a["value:H"][:, :-1]), False),
         r"value 'H' has shape \(2, 11\), but the grid of axes \['mu', 't'\] has shape \(2, 12\)"),
        (lambda p, a, src: _write(p, _with(a, "landmark:half", a["landmark:half"][:1]), False),
         "landmark 'half' has shape"),
        (lambda p, a, src: _write(p, _with(a, "coord:mu", np.array([0.5, np.nan])), False),
         "coordinate 'mu' holds non-finite values"),
        (lambda p, a, src: _write(p, _with(a, "coord:t", a["coord:t"][::-1].copy()), False),
         "coordinate 't' must be strictly increasing"),
        (lambda p, a, src: _write(p, _with(a, "value:H", np.full((2, 12), "x")), False), "must be a real array"),
    ],
    ids=["truncated", "empty", "garbage", "npy", "no_meta", "bad_meta", "missing_value", "missing_hprior",
         "checksum", "wrong_shape", "wrong_landmark_shape", "nan_coordinate", "decreasing_t", "text_values"],
)
def test_load_of_a_tampered_file_raises_one_value_error_naming_file_and_defect(tmp_path, saved, make, reason):
    src, arrays = saved
    path = tmp_path / "bad.npz"
    make(path, arrays, src)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*" + reason):
        phase.PhaseDiagram.load(path)


def test_load_of_an_untouched_file_still_works(saved):
    src, arrays = saved
    back = phase.PhaseDiagram.load(src)
    for k, v in arrays.items():
        if k != "meta":
            group, name = k.split(":")
            got = {"coord": back.coords, "value": back.values, "stderr": back.stderr, "landmark": back.landmarks,
                   "hprior": back.h_prior}[group][name]
            np.testing.assert_array_equal(got, v)
    assert "sha256" not in back.meta and back.meta["model"] == "two" and back.dims == ("mu", "t")


# ------------------------------------------------------------------------------------------------ atomic writes
def _failing_replace(*a, **k):
    raise OSError("simulated crash between write and rename")


def test_save_is_atomic_when_the_rename_fails(tmp_path, saved, monkeypatch):
    pd = phase.PhaseDiagram.load(saved[0])
    target = tmp_path / "diag.npz"
    monkeypatch.setattr(os, "replace", _failing_replace)
    with pytest.raises(OSError, match="simulated crash"):
        pd.save(target)
    assert list(tmp_path.iterdir()) == []  # neither a half-written target nor a stray temporary file
    monkeypatch.undo()
    pd.save(target)
    before = target.read_bytes()
    pd.meta["model"] = "changed"
    monkeypatch.setattr(os, "replace", _failing_replace)
    with pytest.raises(OSError):
        pd.save(target)
    assert target.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["diag.npz"]


def test_cache_writes_are_atomic_when_the_rename_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "replace", _failing_replace)
    with pytest.raises(OSError, match="simulated crash"):
        _run(tmp_path)
    left = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert left == []  # no meta.json, no part, no temporary file
    monkeypatch.undo()
    _assert_same(_run(tmp_path), _run())


def test_save_and_cache_fsync_what_they_write(tmp_path, saved, monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    phase.PhaseDiagram.load(saved[0]).save(tmp_path / "d.npz")
    assert len(calls) >= 1
    calls.clear()
    _run(tmp_path / "c")
    assert len(calls) >= 4  # meta.json and three parts (plus their directory where supported)


def test_atomic_helpers(tmp_path, monkeypatch):
    from gmmtheory import atomic

    target = tmp_path / "f.txt"
    atomic.atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_open(target) as f:
            f.write(b"half of the ne")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]
    monkeypatch.setattr(os, "replace", _failing_replace)
    with pytest.raises(OSError):
        atomic.atomic_write_bytes(tmp_path / "g.bin", b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]
    monkeypatch.undo()
    assert atomic.atomic_write_bytes(tmp_path / "g.bin", b"data").read_bytes() == b"data"


def test_a_cache_path_that_is_a_file_is_refused_before_any_work(tmp_path, monkeypatch):
    def forbidden(*a, **k):
        raise AssertionError("compute started before validation")

    monkeypatch.setattr(cells, "_binary_grid_kernel", forbidden)
    monkeypatch.setattr(cells, "time_factors", forbidden)
    f = tmp_path / "not_a_dir"
    f.write_text("x")
    with pytest.raises(ValueError, match=r"cache must be a directory; .*not_a_dir exists and is not one"):
        _run(f)
    with pytest.raises(ValueError, match="cache must be a directory path"):
        _run(3.5)
