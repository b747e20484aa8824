"""The result of a phase-diagram sweep: ``PhaseDiagram`` (named coordinates, values, standard errors, landmark
curves, priors, metadata) and its one-file format (``save`` / ``load``).

Keys: a quantity ``q`` at level ``L`` is ``values[q]`` for the labels (``L = "classes"``) and ``values["L.q"]``
otherwise, e.g. ``"coarse.H_norm"`` with ``H_norm = H[Z_P | X_t] / H[Z_P]``.

File: one ``.npz`` with arrays ``<group>:<name>`` (groups ``coord``, ``value``, ``stderr``, ``landmark``,
``hprior``) and ``meta`` (JSON, with ``dims``, ``levels``, the array names and ``sha256`` = sha256 over
(name, dtype, shape, bytes) of every array in name order), written atomically (``gmmtheory.atomic``).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from gmmtheory.atomic import atomic_open

__all__ = ["PhaseDiagram", "quantity_key"]


@dataclass(frozen=True)
class PhaseDiagram:
    """Values on a (parameters × t) grid with named coordinates, their standard errors and the landmark curves.

    Attributes:
        coords: axis name → 1-D coordinate array, in grid order; the last axis is always ``"t"``.
        values: quantity key → array shaped like the grid (see the module docstring for keys).
        stderr: same keys as ``values`` (0 where exact, nan where not computed).
        landmarks: landmark key → array shaped like the parameter grid (all axes but t).
        h_prior: level → H[Z_P] (nats) over the parameter grid.
        meta: model, process, fixed parameters, levels, method, samples, path, devices, timing.
    """

    coords: dict
    values: dict
    stderr: dict
    landmarks: dict
    h_prior: dict
    meta: dict = field(default_factory=dict)

    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(self.coords)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.coords.values())

    @property
    def levels(self) -> tuple[str, ...]:
        return tuple(self.h_prior)

    def get(self, quantity: str, level: str = "classes") -> np.ndarray:
        """``values`` of a quantity at a level ("classes" = the labels)."""
        return self.values[quantity_key(level, quantity)]

    def landmark(self, name: str, level: str = "classes") -> np.ndarray:
        """A landmark curve at a level (``"t_S"`` is level-free)."""
        return self.landmarks[name if name == "t_S" else quantity_key(level, name)]

    def as_dict(self) -> dict[str, dict]:
        """The six groups by name: ``coords``, ``values``, ``stderr``, ``landmarks``, ``h_prior``, ``meta``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def save(self, path: str | Path) -> Path:
        """Write everything to one ``.npz`` atomically (coordinates, values, stderr, landmarks, h_prior; meta as JSON).

        The file is written to a temporary file, fsync-ed and renamed over ``path`` (``gmmtheory.atomic``), so an
        interrupted save leaves the previous file or none, never a truncated one. ``meta`` also records the array
        names of every group and the sha256 of the arrays (``_arrays_sha256``), which ``load`` checks.
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {}
        names: dict[str, list[str]] = {}
        for prefix, dct in _groups_of(self):
            names[prefix] = list(dct)
            for k, v in dct.items():
                arrays[f"{prefix}:{k}"] = np.asarray(v)
        meta = dict(self.meta, dims=list(self.dims), levels=list(self.levels), arrays=names,
                    sha256=_arrays_sha256(arrays))
        arrays["meta"] = np.array(json.dumps(meta, default=_json_default))
        with atomic_open(path) as f:
            np.savez(f, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> PhaseDiagram:
        """Read a file written by ``save``; any defect raises one ``ValueError`` naming the file and the defect.

        Checked: the file is a readable ``.npz`` (not truncated, not pickled data), ``meta`` is a JSON object with
        ``dims`` (ending in ``"t"``) and ``levels``, the stored checksum matches, every listed array is present,
        coordinates are 1-D, finite, without repeats (t strictly increasing), values and stderr are real arrays
        shaped like the grid, landmarks and h_prior shaped like the parameter grid, h_prior finite.
        """
        path = Path(path)

        def bad(what: str) -> ValueError:
            return ValueError(f"{path}: not a valid phase-diagram file: {what}")

        if not path.is_file():
            raise bad("no such file" if not path.exists() else "not a regular file")
        with open(path, "rb") as fh:  # closed on every path, also when np.load fails half-way (no ResourceWarning)
            try:
                data = np.load(fh, allow_pickle=False)
            except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
                raise bad(f"not an .npz archive, or truncated ({type(e).__name__}: {e})") from None
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise bad("a single .npy array, not an .npz archive")
            with data:
                try:
                    arrays = {name: np.array(data[name]) for name in data.files}
                except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
                    raise bad(f"truncated or corrupted archive ({type(e).__name__}: {e})") from None
        if "meta" not in arrays:
            raise bad("missing key 'meta'")
        raw = arrays.pop("meta")
        try:
            meta = json.loads(str(raw)) if raw.ndim == 0 and raw.dtype.kind == "U" else None
        except ValueError as e:
            raise bad(f"'meta' is not valid JSON ({e})") from None
        if not isinstance(meta, dict):
            raise bad("'meta' must be a JSON object (a string array of shape ())")
        dims, levels = meta.get("dims"), meta.get("levels")
        if (not isinstance(dims, list) or not dims or dims[-1] != "t" or len(set(dims)) != len(dims)
                or not all(isinstance(d, str) for d in dims)):
            raise bad(f"meta['dims'] must be a list of distinct axis names ending in 't'; got {dims!r}")
        if not isinstance(levels, list) or not levels or not all(isinstance(lv, str) for lv in levels):
            raise bad(f"meta['levels'] must be a non-empty list of level names; got {levels!r}")
        stored = meta.pop("sha256", None)
        listed = meta.pop("arrays", None)
        groups: dict[str, dict] = {p: {} for p in _GROUP_PREFIXES}
        for name, arr in arrays.items():
            prefix, sep, key = name.partition(":")
            if not sep or prefix not in groups:
                raise bad(f"unexpected key {name!r} (keys are 'meta' and '<group>:<name>', groups {_GROUP_PREFIXES})")
            groups[prefix][key] = arr
        if isinstance(listed, dict):
            for prefix, keys in listed.items():
                for k in keys if isinstance(keys, list) else []:
                    if prefix in groups and k not in groups[prefix]:
                        raise bad(f"missing key '{prefix}:{k}'")
        if stored is not None and stored != _arrays_sha256(arrays):
            raise bad("checksum mismatch: the arrays were modified or corrupted after saving")
        for k in groups["coord"]:
            if k not in dims:
                raise bad(f"coordinate {k!r} is not one of meta['dims'] {dims}")
        coords = {}
        for k in dims:
            if k not in groups["coord"]:
                raise bad(f"missing key 'coord:{k}'")
            c = groups["coord"][k]
            if c.ndim != 1 or c.size == 0 or c.dtype.kind not in "iuf":
                raise bad(f"coordinate {k!r} must be a non-empty 1-D real array; got dtype {c.dtype}, shape {c.shape}")
            if not np.all(np.isfinite(c)):
                raise bad(f"coordinate {k!r} holds non-finite values (NaN or inf)")
            if k == "t" and np.any(np.diff(c) <= 0):
                raise bad("coordinate 't' must be strictly increasing")
            if np.unique(c).size != c.size:
                raise bad(f"coordinate {k!r} repeats values")
            coords[k] = c
        shape = tuple(c.size for c in coords.values())
        for prefix, want, what in (("value", shape, "the grid"), ("stderr", shape, "the grid"),
                                   ("landmark", shape[:-1], "the parameter grid"),
                                   ("hprior", shape[:-1], "the parameter grid")):
            for k, a in groups[prefix].items():
                if a.dtype.kind not in "iuf":
                    raise bad(f"{prefix} {k!r} must be a real array; got dtype {a.dtype}")
                if a.shape != want:
                    raise bad(f"{prefix} {k!r} has shape {a.shape}, but {what} of axes {dims} has shape {want}")
        for lv in levels:
            if lv not in groups["hprior"]:
                raise bad(f"missing key 'hprior:{lv}'")
            if not np.all(np.isfinite(groups["hprior"][lv])):
                raise bad(f"hprior {lv!r} holds non-finite values (NaN or inf)")
        h_prior = {k: groups["hprior"][k] for k in levels}
        return cls(coords, groups["value"], groups["stderr"], groups["landmark"], h_prior, meta)

    def __repr__(self) -> str:
        axes = ", ".join(f"{k}[{len(v)}]" for k, v in self.coords.items())
        return (f"PhaseDiagram({axes}; model={self.meta.get('model')!r}, process={self.meta.get('process')!r}, "
                f"path={self.meta.get('path')!r}, values={sorted(self.values)})")


def quantity_key(level: str, quantity: str) -> str:
    """The ``values``/``landmarks`` key of ``quantity`` at ``level``: bare for ``"classes"``, else
    ``"level.quantity"``."""
    return quantity if level == "classes" else f"{level}.{quantity}"


_GROUP_PREFIXES = ("coord", "value", "stderr", "landmark", "hprior")


def _groups_of(pd: PhaseDiagram) -> tuple[tuple[str, dict], ...]:
    return tuple(zip(_GROUP_PREFIXES, (pd.coords, pd.values, pd.stderr, pd.landmarks, pd.h_prior)))


def _arrays_sha256(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over the arrays in name order: name, dtype, shape and the C-ordered bytes of each."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(json.dumps([name, a.dtype.str, list(a.shape)]).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
