"""The resumable cache of a phase-diagram sweep: one folder per sweep, one checksummed part per finished unit.

Each sweep gets its own folder ``DIR/sweep_<fingerprint[:16]>/``, so several sweeps share one directory without ever
seeing each other's values. The fingerprint is the sha256 of an exact description (``canonical``) of everything that
determines a value: the axes and t (sha256 of their bytes), the model, the fixed parameters, the process (type and
every field: floats by their round-trip ``repr``, array fields such as a discrete schedule's ᾱ table by the sha256
of their bytes), quantities, method, n_samples, key (its key data), guidance options, the cache format and the
gmmtheory version. ``meta.json`` in the folder records it (readable config included); each finished unit (a chunk of
rows, or one cell) is ``part_NNNNNN.npz``. A part carries a header — fingerprint, unit index, number of units and the
unit's cell indices (the layout, which depends on ``chunk_size`` and the device count), quantity keys, shape — and a
sha256 of header and arrays; it is read with ``allow_pickle=False`` and used only if every item matches. A part that
is unreadable (empty, truncated, not an ``.npz``), of another sweep, in the wrong slot, of another layout, missing a
quantity or failing its checksum is recomputed and overwritten; a corrupt ``meta.json`` is rewritten. Each such file
is named, with the reason, in one ``CacheWarning`` and listed in ``meta["cache"]["rejected"]``. Every file is
written atomically with ``gmmtheory.atomic`` (temporary file, fsync, rename, fsync of the directory), so an
interrupted run leaves complete files or none.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import warnings
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np

from gmmtheory.atomic import atomic_open, atomic_write_text, ensure_writable_dir
from gmmtheory.phase.diagram import _arrays_sha256

__all__ = ["CACHE_FORMAT", "CacheWarning", "canonical", "check_cache_dir", "fingerprint"]

CACHE_FORMAT = 2  # layout of cache parts and meta.json; part of every fingerprint


class CacheWarning(UserWarning):
    """A file of a ``phase_diagram`` cache could not be used (unreadable, of another sweep, slot or unit layout,
    failed checksum) and its values were recomputed; the message names each file and the reason."""


def _qualname(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def canonical(obj: object) -> object:
    """An exact, JSON-able description of ``obj`` for the cache fingerprint.

    Floats keep their shortest round-trip ``repr`` (so 0.5 and 0.5000004 differ; non-finite ones become
    ``{"float": "nan"}``), arrays — and numeric tuples longer than 16, such as a discrete schedule's ᾱ table — are
    described by dtype, shape and the sha256 of their bytes (PRNG keys by their key data), dataclasses (the
    processes) by their type and every field, other objects by type, state and ``repr``.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else {"float": repr(x)}
    if isinstance(obj, dict):
        return {str(k): canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        if len(obj) > 16 and all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in obj):
            return canonical(np.asarray(obj))
        return [canonical(v) for v in obj]
    if isinstance(obj, (np.ndarray, jax.Array)):
        if jax.dtypes.issubdtype(obj.dtype, jax.dtypes.prng_key):
            obj = jax.random.key_data(obj)
        arr = np.ascontiguousarray(np.asarray(obj))
        return {"array": arr.dtype.str, "shape": list(arr.shape), "sha256": hashlib.sha256(arr.tobytes()).hexdigest()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {"type": _qualname(obj),
                "fields": {f.name: canonical(getattr(obj, f.name)) for f in dataclasses.fields(obj)}}
    if hasattr(obj, "__dict__"):
        return {"type": _qualname(obj), "state": canonical(vars(obj)), "repr": repr(obj)}
    return {"type": _qualname(obj), "repr": repr(obj)}


def fingerprint(config: dict) -> str:
    """sha256 (hex) of the canonical description of everything that determines a sweep's values."""
    return hashlib.sha256(json.dumps(canonical(config), sort_keys=True).encode()).hexdigest()


def check_cache_dir(cache: object) -> Path | None:
    """None, or the cache root as a writable directory (created now); ``ValueError`` for anything else."""
    if cache is None:
        return None
    if not isinstance(cache, (str, os.PathLike)) or not os.fspath(cache):
        raise ValueError(f"cache must be a directory path (str or Path) or None; got {cache!r}")
    root = Path(cache)
    if root.exists() and not root.is_dir():
        raise ValueError(f"cache must be a directory; {root} exists and is not one")
    return ensure_writable_dir(root, "cache")  # created now: a path below a file or a read-only place is refused


def _clear_non_file(path: Path) -> str:
    """A cache file's path holds something other than a regular file: remove it if it is an empty directory (so the
    rewrite can rename onto it) and return the reason to report; raise ``ValueError`` naming the path otherwise."""
    if path.is_dir() and not path.is_symlink():
        try:
            path.rmdir()
        except OSError:
            pass
        else:
            return "is an empty directory, not a file (removed; recomputed and rewritten)"
    raise ValueError(f"cache: {path} is not a regular file (a non-empty directory or a special file) and cannot be "
                     "replaced; remove it or give another cache directory")


class _Cache:
    """Finished units of one sweep under ``ROOT/sweep_<fingerprint[:16]>/`` (see the module docstring).

    Every part ``part_NNNNNN.npz`` holds the arrays ``v:<key>``/``e:<key>`` (values/stderr, float64, shape
    (cells of the unit, T)) and ``header``, a JSON object: cache format, the sweep's full fingerprint, the unit
    index, the number of units and the unit's flat cell indices (the layout, which depends on ``chunk_size`` and
    the device count), the quantity keys, the shape and the sha256 of header and arrays. ``load`` returns a part
    only if all of these match; otherwise the part is recorded in ``problems`` (file, reason) and recomputed.
    """

    def __init__(self, root: Path | None, config: dict, units: list[np.ndarray], keys: Sequence[str], T: int):
        self.problems: list[tuple[str, str]] = []
        self.n_loaded = 0
        self.dir: Path | None = None
        self.units, self.keys, self.T = units, sorted(keys), T
        if root is None:
            return
        self.fingerprint = fingerprint(config)
        self.dir = root / f"sweep_{self.fingerprint[:16]}"
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "meta.json"
        record = {"format": CACHE_FORMAT, "fingerprint": self.fingerprint, "config": canonical(config),
                  "n_units": len(units), "unit_sizes": sorted({int(u.size) for u in units})}
        ok = False
        if meta.exists() and not meta.is_file():
            self.problems.append((str(meta), _clear_non_file(meta)))
        elif meta.exists():
            try:
                old = json.loads(meta.read_bytes().decode("utf-8"))
                if not isinstance(old, dict):
                    raise ValueError("not a JSON object")
                if old.get("fingerprint") != self.fingerprint:
                    raise ValueError(f"fingerprint {str(old.get('fingerprint'))[:16]}… is not this sweep's")
                ok = old == json.loads(json.dumps(record))
                if not ok:
                    self.problems.append((str(meta), "describes another unit layout; rewritten"))
            except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                self.problems.append((str(meta), f"unreadable ({type(e).__name__}: {e}); rewritten"))
        if not ok and jax.process_index() == 0:
            atomic_write_text(meta, json.dumps(record, indent=1))

    def _path(self, unit: int) -> Path:
        return self.dir / f"part_{unit:06d}.npz"

    def _header(self, unit: int) -> dict:
        cells = self.units[unit]
        return {"format": CACHE_FORMAT, "fingerprint": self.fingerprint, "unit": unit, "n_units": len(self.units),
                "cells": [int(i) for i in cells], "keys": self.keys, "shape": [int(cells.size), self.T]}

    @staticmethod
    def _digest(header: dict, arrays: dict[str, np.ndarray]) -> str:
        h = {k: v for k, v in header.items() if k != "sha256"}
        return hashlib.sha256(json.dumps(h, sort_keys=True).encode() + _arrays_sha256(arrays).encode()).hexdigest()

    def load(self, unit: int) -> tuple[dict, dict] | None:
        """The unit's (values, stderr) if a valid part exists; None (and a recorded problem if a bad one exists)."""
        if self.dir is None:
            return None
        p = self._path(unit)
        if not p.exists():
            return None
        if not p.is_file():
            self.problems.append((str(p), _clear_non_file(p)))
            return None
        got = self._read(unit, p)
        if isinstance(got, str):
            self.problems.append((str(p), got))
            return None
        self.n_loaded += 1
        return got

    def _read(self, unit: int, p: Path) -> tuple[dict, dict] | str:
        try:
            with open(p, "rb") as fh:  # closed on every path (a truncated archive leaves no open file behind)
                data = np.load(fh, allow_pickle=False)
                if not isinstance(data, np.lib.npyio.NpzFile):
                    return "is not an .npz archive"
                with data:
                    arrays = {k: np.array(data[k]) for k in data.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
            return f"unreadable: empty, truncated or not an .npz archive ({type(e).__name__}: {e})"
        raw = arrays.pop("header", None)
        try:
            header = json.loads(str(raw)) if raw is not None and raw.ndim == 0 and raw.dtype.kind == "U" else None
        except ValueError:
            header = None
        if not isinstance(header, dict):
            return "has no valid header (written by an older gmmtheory, or not a cache part)"
        want = self._header(unit)
        if header.get("format") != CACHE_FORMAT:
            return f"has cache format {header.get('format')!r}, not {CACHE_FORMAT}"
        if header.get("fingerprint") != want["fingerprint"]:
            return f"belongs to another sweep (fingerprint {str(header.get('fingerprint'))[:16]}…)"
        if header.get("unit") != unit:
            return f"holds unit {header.get('unit')!r}, not unit {unit} (moved or copied into the wrong slot)"
        if header.get("n_units") != want["n_units"] or header.get("cells") != want["cells"]:
            return (f"was written for another unit layout ({header.get('n_units')!r} units; this sweep has "
                    f"{want['n_units']}: another chunk_size or device count)")
        names = {f"{g}:{k}" for g in ("v", "e") for k in self.keys}
        if header.get("keys") != self.keys or set(arrays) != names:
            missing, extra = sorted(names - set(arrays)), sorted(set(arrays) - names)
            return f"does not hold the sweep's quantities (missing {missing}, unexpected {extra})"
        for k, a in arrays.items():
            if a.dtype != np.float64 or list(a.shape) != want["shape"]:
                return f"array {k!r} has dtype {a.dtype} and shape {a.shape}, expected float64 {tuple(want['shape'])}"
        if header.get("sha256") != self._digest(want, arrays):
            return "fails its checksum (modified or corrupted)"
        vals = {k[2:]: a for k, a in arrays.items() if k.startswith("v:")}
        errs = {k[2:]: a for k, a in arrays.items() if k.startswith("e:")}
        return vals, errs

    def store(self, unit: int, vals: dict, errs: dict) -> None:
        """Write the unit atomically (temporary file, fsync, rename: ``gmmtheory.atomic``)."""
        if self.dir is None:
            return
        arrays = {f"v:{k}": np.asarray(v, np.float64) for k, v in vals.items()}
        arrays.update({f"e:{k}": np.asarray(v, np.float64) for k, v in errs.items()})
        header = self._header(unit)
        header["sha256"] = self._digest(header, arrays)
        with atomic_open(self._path(unit)) as f:
            np.savez(f, header=np.array(json.dumps(header)), **arrays)

    def report(self) -> dict | None:
        """Cache summary for ``PhaseDiagram.meta``; warns (``CacheWarning``) once about every unusable file."""
        if self.dir is None:
            return None
        if self.problems:
            listed = "; ".join(f"{Path(f).name}: {why}" for f, why in self.problems[:10])
            more = f"; and {len(self.problems) - 10} more" if len(self.problems) > 10 else ""
            warnings.warn(f"phase_diagram cache {self.dir}: {len(self.problems)} file(s) not usable, recomputed or "
                          f"rewritten — {listed}{more}", CacheWarning, stacklevel=3)
        return {"dir": str(self.dir), "fingerprint": self.fingerprint, "n_loaded": self.n_loaded,
                "rejected": [{"file": f, "reason": why} for f, why in self.problems]}


