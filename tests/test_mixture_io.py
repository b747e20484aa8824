"""Mixture files (``gmmtheory.mixture_io``): the allowed keys, ``cov_kind``, and one clear ``ValueError`` naming the
file for every bad file; on the command line, a one-line error and exit status 2.

Expected mixtures are the arrays the tests write (dense numpy), never values read back by the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import gmmtheory as gt
from gmmtheory import cli
from gmmtheory.mixture_io import MIXTURE_FILE_KEYS, load_mixture_file

RNG = np.random.default_rng(99)
MEANS = RNG.normal(size=(3, 3))  # K = d = 3: the (3, 3) covariance needs cov_kind
A = RNG.normal(size=(3, 3))
S = A @ A.T / 3 + 0.4 * np.eye(3)
W = np.array([0.2, 0.5, 0.3])


def _json(path: Path, obj: object) -> Path:
    path.write_text(json.dumps(obj))
    return path


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_round_trip_with_cov_kind(tmp_path, suffix):
    """cov_kind in a file is honoured (it used to be ignored, so a shared (d, d) matrix became class_diag)."""
    path = tmp_path / f"mix{suffix}"
    if suffix == ".json":
        _json(path, {"means": MEANS.tolist(), "cov": S.tolist(), "weights": W.tolist(), "cov_kind": "shared_full"})
    else:
        np.savez(path, means=MEANS, cov=S, weights=W, cov_kind="shared_full")
    mix = load_mixture_file(path)
    assert mix.cov_kind == "shared_full"
    np.testing.assert_array_equal(mix.means, MEANS)
    np.testing.assert_array_equal(mix.weights, W / W.sum())
    np.testing.assert_allclose(mix.component_covariances(), np.stack([S] * 3), rtol=1e-15, atol=1e-15)
    assert gt.load_mixture_file is load_mixture_file


def test_ambiguous_file_without_cov_kind(tmp_path):
    path = _json(tmp_path / "amb.json", {"means": MEANS.tolist(), "cov": S.tolist()})
    with pytest.raises(ValueError, match=r"amb\.json.*ambiguous.*cov_kind"):
        load_mixture_file(path)


def test_defaults_and_nulls(tmp_path):
    path = _json(tmp_path / "m.json", {"means": [[1.0, 2.0], [3.0, 4.0]], "weights": None})
    mix = load_mixture_file(path)
    np.testing.assert_array_equal(mix.component_covariances(), np.stack([np.eye(2)] * 2))
    np.testing.assert_array_equal(mix.weights, [0.5, 0.5])


@pytest.mark.parametrize("content, message", [
    ({"means": [[0.0], [1.0]], "weigths": [0.9, 0.1]}, r"unknown key\(s\) \['weigths'\]; allowed keys: \['means', "
                                                        r"'cov', 'weights', 'cov_kind'\]"),
    ({"mean": [[0.0], [1.0]]}, r"unknown key\(s\) \['mean'\]"),
    ({"cov": 1.0}, r"has no 'means' entry"),
    ([[0.0], [1.0]], r"must hold one JSON object .* got a JSON array"),
    ("means", r"got a JSON string"),
    ({"means": [[0.0], [True]]}, r"means\[1\]\[0\] must be a number; got boolean"),
    ({"means": [[0.0], ["1"]]}, r"means\[1\]\[0\] must be a number; got string"),
    ({"means": [[0.0], [1.0]], "cov": [1, None]}, r"cov\[1\] must be a number; got null"),
    ({"means": [[0.0], [10**400]]}, r"means\[1\]\[0\] must be a finite float64 number"),
    ({"means": [[0.0], [1.0]], "cov_kind": "diag"}, r"cov_kind must be one of"),
    ({"means": [[0.0], [1.0]], "weights": [0.5, 0.6]}, r"weights must sum to 1"),
])
def test_bad_json_content(tmp_path, content, message):
    """A misspelled key used to be ignored (uniform weights were used); non-objects gave a traceback."""
    path = _json(tmp_path / "bad.json", content)
    with pytest.raises(ValueError, match=r"^mixture file '.*bad\.json'.*" + message):
        load_mixture_file(path)


def test_json_nan_refused(tmp_path):
    path = tmp_path / "nan.json"
    path.write_text('{"means": [[0.0], [NaN]]}')
    with pytest.raises(ValueError, match=r"nan\.json.*means\[1\]\[0\] must be a finite"):
        load_mixture_file(path)


@pytest.mark.parametrize("text, message", [
    ('{"means": [[0.0], [1.0]]', r"is not valid JSON: .* \(line 1, column \d+\)"),
    ("", r"is not valid JSON"),
])
def test_malformed_json(tmp_path, text, message):
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"^mixture file '.*broken\.json' " + message):
        load_mixture_file(path)


def test_not_utf8_json(tmp_path):
    path = tmp_path / "latin.json"
    path.write_bytes(b'{"means": [[0.0]], "\xff": 1}')
    with pytest.raises(ValueError, match=r"latin\.json' is not UTF-8 text"):
        load_mixture_file(path)


def test_truncated_and_garbage_npz(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, means=MEANS, cov=S, cov_kind="shared_full")
    data = good.read_bytes()
    for name, content in (("cut.npz", data[: len(data) // 2]), ("empty.npz", b""), ("junk.npz", b"not a zip" * 9)):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ValueError, match=rf"^mixture file '.*{name}' is not a readable \.npz archive"):
            load_mixture_file(path)


def test_npz_with_objects_or_complex(tmp_path):
    obj = tmp_path / "obj.npz"
    np.savez(obj, means=np.array([[0.0], [1.0]]), cov=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match=r"obj\.npz' is not a readable .* Python objects"):
        load_mixture_file(obj)
    cplx = tmp_path / "complex.npz"
    np.savez(cplx, means=np.array([[0.0], [1.0]]) + 1j)
    with pytest.raises(ValueError, match=r"complex\.npz': means must be real; got complex"):
        load_mixture_file(cplx)
    key = tmp_path / "key.npz"
    np.savez(key, means=np.array([[0.0], [1.0]]), covariance=np.ones(2))
    with pytest.raises(ValueError, match=r"key\.npz' has unknown key\(s\) \['covariance'\]"):
        load_mixture_file(key)
    kind = tmp_path / "kind.npz"
    np.savez(kind, means=np.array([[0.0], [1.0]]), cov_kind=np.array(["class_iso", "x"]))
    with pytest.raises(ValueError, match=r"kind\.npz': cov_kind must be one string"):
        load_mixture_file(kind)


def test_missing_directory_and_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"^mixture file '.*nothere\.json' does not exist"):
        load_mixture_file(tmp_path / "nothere.json")
    with pytest.raises(ValueError, match=r"^mixture file '.*' is a directory"):
        load_mixture_file(tmp_path)
    other = tmp_path / "mix.txt"
    other.write_text("{}")
    with pytest.raises(ValueError, match=r"must end in \.json or \.npz; got suffix '\.txt'"):
        load_mixture_file(other)


def test_keys_constant():
    assert MIXTURE_FILE_KEYS == ("means", "cov", "weights", "cov_kind")


@pytest.mark.parametrize("make", [
    lambda d: _json(d / "k.json", {"means": [[0.0], [1.0]], "weigths": [0.5, 0.5]}),
    lambda d: _json(d / "list.json", [1, 2]),
    lambda d: (d / "bad.json").write_text("{") and d / "bad.json",
    lambda d: (d / "cut.npz").write_bytes(b"PK\x03\x04") and d / "cut.npz",
    lambda d: _json(d / "amb.json", {"means": MEANS.tolist(), "cov": S.tolist()}),
    lambda d: d / "missing.json",
    lambda d: d,
], ids=["misspelled", "non_object", "malformed", "truncated_npz", "ambiguous", "missing", "directory"])
def test_cli_bad_mixture_file_exits_2(tmp_path, capsys, make):
    """Several of these used to exit 1 (SystemExit with a message) or print a traceback."""
    path = make(tmp_path)
    assert cli.main(["entropy", "--mixture", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and str(path.name) in err
