"""What one unit of a phase-diagram sweep computes: a cell of the loop, a guided cell, a chunk of the fast path.

*Cell loop*: the cell's mixture goes through the engine (``class_entropy``, ``collision_probability``,
``bayes_error``, ``entropy_rate``; the rate by ``"closed_form"``, else ``"autodiff"`` on the reduced statistics, else
``"denoiser_gap"``) with the same key in every cell (common random numbers across the grid).

*Guided cell*: the cross-entropy E_{q_w}[−log p_t(z|x)] along classifier-free guided trajectories of scale w
(``guidance.guided_profile``), interpolated linearly in log σ onto the sweep's times at equal SNR.

*Fast path* (two Gaussians): the entropy depends on the parameters only through the effective SNR
s = a² d μ̃²/(a² s_w² + σ²) and the weights, so a chunk of rows × t is one vmapped binary-channel quadrature
(``entropy.quadrature.binary_expectation``) with the rate by I-MMSE, dH/dt = −½ mmse_b(s) ds/dt; the rows of a
chunk are sharded over the (local) devices of a 1-D ``Mesh`` (axis ``"cells"``).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gmmtheory._chunks import array_budget, rows_per_chunk
from gmmtheory._precision import precision_scope
from gmmtheory.entropy.api import bayes_error, class_entropy, collision_probability
from gmmtheory.entropy.quadrature import binary_expectation, gauss_hermite
from gmmtheory.entropy.rate import entropy_rate
from gmmtheory.entropy.rate_kernels import binary_mmse_kernel
from gmmtheory.entropy.reduced import applies as reduced_applies
from gmmtheory.guidance import guided_profile
from gmmtheory.mixture import GaussianMixture, Partition
from gmmtheory.phase.diagram import quantity_key
from gmmtheory.processes import EDM, time_factors

_QUAD_NODES = 200 + 960  # Gauss–Hermite + windowed Gauss–Legendre nodes per s value


def _rate_method(mix: GaussianMixture, part: Partition, method: str) -> str:
    if method != "auto":
        return {"quadrature": "closed_form", "reduced": "autodiff", "montecarlo": "denoiser_gap"}[method]
    if mix.K == 2 and mix.shared_covariance:
        return "closed_form"
    return "autodiff" if reduced_applies(mix) else "denoiser_gap"


def _general_cell(mix, levels, process, t, quantities, method, n_samples, key,
                  rare: list | None = None) -> tuple[dict, dict]:
    """One cell's values and standard errors; quantities whose Monte Carlo estimate is flagged as a rare event
    (``extra["rare_event"]``) are appended to ``rare`` instead of each issuing a ``RareEventWarning``."""
    vals, errs = {}, {}
    for lname, part in levels.items():
        kw = dict(partition=part, method=method, n_samples=n_samples, key=key, warn=False)
        for q, fn in (("H", class_entropy), ("phi", collision_probability), ("bayes_error", bayes_error)):
            if q in quantities:
                r = fn(mix, process, t, **kw)
                if rare is not None and r.extra.get("rare_event"):
                    rare.append(quantity_key(lname, q))
                vals[quantity_key(lname, q)], errs[quantity_key(lname, q)] = r.value, r.stderr
        if "rate" in quantities:
            r = entropy_rate(mix, process, t, partition=part, method=_rate_method(mix, part, method),
                             n_samples=n_samples, key=key)
            vals[quantity_key(lname, "rate")], errs[quantity_key(lname, "rate")] = r.value, r.stderr
    return vals, errs


def _profile_arrays(prof) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(σ grid, entropy, stderr) from a ``guidance.GuidedProfile`` (or a dict with the same fields)."""
    get = (lambda n: prof.get(n)) if isinstance(prof, dict) else (lambda n: getattr(prof, n, None))
    sig = next((get(n) for n in ("sigma", "sigmas", "t", "times") if get(n) is not None), None)
    ent = next((get(n) for n in ("entropy", "cross_entropy", "H", "value") if get(n) is not None), None)
    if sig is None or ent is None:
        raise ValueError(f"guided_profile returned {type(prof).__name__} without a σ grid and an entropy")
    se = next((get(n) for n in ("stderr", "entropy_stderr", "H_stderr") if get(n) is not None), None)
    sig, ent = np.asarray(sig, np.float64).ravel(), np.asarray(ent, np.float64).ravel()
    se = np.zeros_like(ent) if se is None else np.asarray(se, np.float64).ravel()
    keep = (sig > 0) & np.isfinite(ent)  # the sampler's last point may be σ = 0
    sig, ent, se = sig[keep], ent[keep], se[keep]
    order = np.argsort(sig)
    return sig[order], ent[order], se[order]


def _guided_cell(mix, levels, process, t, w, n_samples, key, guidance) -> tuple[dict, dict]:
    with precision_scope("float64"):
        sig_t = np.asarray(process.convert(jnp.asarray(t), EDM()), np.float64)  # σ at equal SNR
    vals, errs = {}, {}
    for lname, part in levels.items():
        kw = dict(guidance or {})
        if n_samples is not None:
            kw["n_samples"] = n_samples
        part_arg = None if lname == "classes" else part
        # labels drawn from the prior, classifier-free guidance with scale w: the cross-entropy profile
        prof = guided_profile(mix, w=float(w), label="prior", partition=part_arg, key=key, **kw)
        sig, ent, se = _profile_arrays(prof)
        x = np.log(sig)
        vals[quantity_key(lname, "H")] = np.interp(np.log(sig_t), x, ent, left=np.nan, right=np.nan)
        errs[quantity_key(lname, "H")] = np.interp(np.log(sig_t), x, se, left=np.nan, right=np.nan)
    return vals, errs



@jax.jit
def _binary_grid_kernel(q, v, log_w, a, s2, da, ds2, nodes, gh_w):
    """Rows of cells × times: s = a² q/(a² v + σ²), then H, φ, 1 − accuracy and the I-MMSE rate, all (C, T)."""
    a2 = a**2
    den = a2[None, :] * v[:, None] + s2[None, :]
    s = a2[None, :] * q[:, None] / den
    ds = q[:, None] * (2.0 * a * da * s2 - a2 * ds2)[None, :] / den**2

    def row(s_r, lw):
        H = binary_expectation(s_r, lw, nodes, gh_w, None, "entropy")
        phi = binary_expectation(s_r, lw, nodes, gh_w, None, "collision")
        acc = binary_expectation(s_r, lw, nodes, gh_w, None, "max")
        return H, phi, acc, binary_mmse_kernel(s_r, lw, nodes, gh_w)

    H, phi, acc, mmse = jax.vmap(row)(s, log_w)
    return {"H": H, "rate": -0.5 * mmse * ds, "phi": phi, "bayes_error": 1.0 - acc}



def _fast_setup(axes, base, t, process, devices, chunk_rows):
    grid = np.meshgrid(*axes.values(), indexing="ij")
    cols = {name: g.ravel() for name, g in zip(axes, grid)}
    n = next(iter(cols.values())).size

    def full(name: str) -> np.ndarray:
        return np.asarray(cols[name], np.float64) if name in cols else np.full(n, float(base[name]))

    pi0 = cols["imbalance"] if "imbalance" in cols else np.full(n, 0.5 if base["imbalance"] is None
                                                                else float(base["imbalance"]))
    q = full("d") * full("mu") ** 2
    v = full("variance")
    log_w = np.log(np.stack([pi0, 1.0 - pi0], axis=1))
    f = time_factors(process, t)
    n_dev = len(devices)
    if chunk_rows is None:  # one float64 (row × T × node) intermediate within one array's share of the budget
        chunk_rows = rows_per_chunk(8 * t.size * _QUAD_NODES, budget=array_budget())
    chunk_rows = int(math.ceil(max(1, min(int(chunk_rows), n)) / n_dev) * n_dev)
    mesh = Mesh(np.asarray(devices), ("cells",))
    row_sh = NamedSharding(mesh, PartitionSpec("cells"))
    mat_sh = NamedSharding(mesh, PartitionSpec("cells", None))
    rep = NamedSharding(mesh, PartitionSpec())
    nodes, gh_w = gauss_hermite(200)

    def put(x: np.ndarray, sh: NamedSharding) -> jax.Array:
        return jax.make_array_from_callback(x.shape, sh, lambda i: x[i])

    consts = [put(np.asarray(f[k], np.float64), rep) for k in ("a", "s2", "da", "ds2")]
    consts += [put(nodes, rep), put(gh_w, rep)]
    Lam = v + 4.0 * pi0 * (1.0 - pi0) * q

    def compute(rows: np.ndarray) -> tuple[dict, dict]:
        idx = np.concatenate([rows, np.full(chunk_rows - rows.size, rows[-1])])  # pad: fixed shape, one compile
        out = _binary_grid_kernel(put(q[idx], row_sh), put(v[idx], row_sh), put(log_w[idx], mat_sh), *consts)
        vals = {k: np.asarray(x)[: rows.size] for k, x in out.items()}  # the mesh is this process's devices
        return vals, {k: np.zeros_like(x) for k, x in vals.items()}

    return n, chunk_rows, compute, Lam, pi0
