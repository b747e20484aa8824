"""Mixture files: a ``GaussianMixture`` stored as a JSON object or a numpy ``.npz`` archive.

A mixture file holds these keys and no others (``MIXTURE_FILE_KEYS``):

=============  ========  ===============================================================================
key            needed    meaning
=============  ========  ===============================================================================
``means``      yes       (K, d) component means μ_k
``cov``        no        covariance in one of the five forms of ``GaussianMixture`` (default 1.0: Σ_k = I)
``weights``    no        (K,) mixing weights π_k summing to 1 (default uniform)
``cov_kind``   no        the covariance form by name (``shared_iso``, ``class_iso``, ``class_diag``,
                         ``shared_full``, ``class_full``); needed when K = d ≥ 2 and ``cov`` has shape (K,) or (K, d)
=============  ========  ===============================================================================

JSON: one object, arrays as nested lists of numbers (``null`` for an optional key means "not given"). ``.npz``: one
array per key (``cov_kind`` a string array), as written by ``np.savez(path, means=..., cov=..., cov_kind="...")``;
archives are read with ``allow_pickle=False``. Every problem — a missing file, a directory, another suffix,
malformed JSON, a JSON value that is not an object, a truncated or unreadable archive, an unknown or misspelled key,
a non-numeric or complex entry, and every ``GaussianMixture`` validation error — raises one ``ValueError`` whose
message names the file and what is wrong (the command line prints it as one line and exits with status 2).
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from gmmtheory.mixture import COV_KINDS, GaussianMixture

MIXTURE_FILE_KEYS: tuple[str, ...] = ("means", "cov", "weights", "cov_kind")
MIXTURE_FILE_SUFFIXES: tuple[str, ...] = (".json", ".npz")


def load_mixture_file(path: str | os.PathLike[str]) -> GaussianMixture:
    """Read a mixture file (module docstring: keys ``means``, ``cov``, ``weights``, ``cov_kind``; .json or .npz).

    Raises ``ValueError`` naming the file and the problem for anything but a valid mixture file.
    """
    try:
        p = Path(path)
    except TypeError:
        raise ValueError(f"mixture file path must be a string or a path; got {type(path).__name__}") from None
    where = f"mixture file {str(p)!r}"
    if not p.exists():
        raise ValueError(f"{where} does not exist")
    if p.is_dir():
        raise ValueError(f"{where} is a directory; expected a .json or .npz file")
    suffix = p.suffix.lower()
    if suffix not in MIXTURE_FILE_SUFFIXES:
        raise ValueError(f"{where} must end in .json or .npz; got suffix {p.suffix!r}")
    data = _read_json(p, where) if suffix == ".json" else _read_npz(p, where)
    unknown = sorted(set(data) - set(MIXTURE_FILE_KEYS))
    if unknown:
        raise ValueError(f"{where} has unknown key(s) {unknown}; allowed keys: {list(MIXTURE_FILE_KEYS)} "
                         "(means required)")
    data = {k: v for k, v in data.items() if v is not None}
    if "means" not in data:
        raise ValueError(f"{where} has no 'means' entry; allowed keys: {list(MIXTURE_FILE_KEYS)} (means required)")
    cov_kind = _cov_kind(data.get("cov_kind"), where)
    try:
        return GaussianMixture(data["means"], data.get("cov", 1.0), data.get("weights"), cov_kind=cov_kind)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _read_json(p: Path, where: str) -> dict[str, Any]:
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where} is not UTF-8 text (is it really JSON?): {exc.reason} at byte {exc.start}") from None
    except OSError as exc:
        raise ValueError(f"{where} could not be read: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise ValueError(f"{where} is nested too deeply to be a mixture") from None
    if not isinstance(data, dict):
        raise ValueError(f"{where} must hold one JSON object with keys {list(MIXTURE_FILE_KEYS)}; got a JSON "
                         f"{_json_type(data)}")
    for key in ("means", "cov", "weights"):
        if key in data and data[key] is not None:
            _check_json_numbers(data[key], f"{where}: {key}")
    return data


def _read_npz(p: Path, where: str) -> dict[str, Any]:
    try:
        with open(p, "rb") as fh:  # closed on every path, also when np.load fails half-way (no ResourceWarning)
            archive = np.load(fh, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            with archive:
                return {name: np.array(archive[name]) for name in archive.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        detail = str(exc) or type(exc).__name__
        if "allow_pickle" in detail:
            detail = "it holds Python objects (pickled arrays are not read); store plain numeric arrays"
        raise ValueError(f"{where} is not a readable .npz archive (truncated or corrupt?): {detail}") from None


def _cov_kind(value: object, where: str) -> str | None:
    """The file's ``cov_kind``: a string (a 0-d string array in .npz), or None when absent."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        if value.ndim != 0 or value.dtype.kind not in "US":
            raise ValueError(f"{where}: cov_kind must be one string, one of {COV_KINDS}; got an array of shape "
                             f"{value.shape}, dtype {value.dtype}")
        value = str(value.item())
    if not isinstance(value, str) or value not in COV_KINDS:
        raise ValueError(f"{where}: cov_kind must be one of {COV_KINDS}; got {value!r}")
    return value


def _check_json_numbers(value: object, what: str) -> None:
    """Refuse anything but (nested lists of) JSON numbers: booleans, strings, nulls and objects inside arrays, and
    the non-standard NaN/Infinity constants, with the position of the first bad entry."""
    stack: list[tuple[object, str]] = [(value, "")]
    while stack:
        v, pos = stack.pop()
        if isinstance(v, list):
            stack.extend((item, f"{pos}[{i}]") for i, item in reversed(list(enumerate(v))))
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"{what}{pos} must be a number; got {_json_type(v)} {v!r}"[:300])
        else:
            try:
                finite = math.isfinite(v)
            except OverflowError:  # an integer beyond float64's range
                finite = False
            if not finite:
                raise ValueError(f"{what}{pos} must be a finite float64 number; got {v!r}"[:300])


def _json_type(v: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(v), "number")
