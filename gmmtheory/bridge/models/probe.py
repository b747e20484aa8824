"""``probe``: one denoising call of a Denoiser on a tiny batch at a few σ, timed (what ``bridge inspect`` prints).

The batch is x = x_0 + σ ε with x_0 = the midpoint of ``data_range`` (0 when unknown) and ε ~ N(0, I) from a
fixed seed; labels 0, 1, … mod K (None for an unconditional model). For each σ it reports the mean, standard
deviation, min and max of D and the wall time of the call (the first call also pays any one-off warm-up).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch

from gmmtheory.bridge.base import Denoiser


def probe(denoiser: Denoiser, *, sigmas: Sequence[float] | None = None, n: int = 4, seed: int = 0) -> dict[str, Any]:
    """Summary dict: shape, classes, σ range, parameters (if known) and per-σ output stats and seconds per call."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected an int >= 1, got {n!r}")
    lo, hi = float(denoiser.sigma_min), float(denoiser.sigma_max)
    if sigmas is None:
        lo_eff = max(lo, 1e-3)
        sigmas = sorted({lo_eff * 1.001, (lo_eff * hi) ** 0.5, min(hi, 80.0) * 0.999})
    dr = getattr(denoiser, "data_range", None)
    mid = 0.0 if dr is None else 0.5 * (dr[0] + dr[1])
    g = torch.Generator().manual_seed(int(seed))
    eps = torch.randn((n, *denoiser.shape), generator=g, dtype=torch.float32)
    k = int(denoiser.num_classes)
    label = torch.arange(n, dtype=torch.long) % k if k > 0 else None
    rows = []
    for s in sigmas:
        x = (mid + float(s) * eps).to(device=denoiser.device, dtype=denoiser.dtype)
        t0 = time.perf_counter()
        with torch.no_grad():
            d = denoiser(x, float(s), None if label is None else label.to(denoiser.device))
        if d.device.type == "cuda":
            torch.cuda.synchronize(d.device)
        sec = time.perf_counter() - t0
        d = d.detach().float().cpu()
        rows.append({"sigma": float(s), "mean": float(d.mean()), "std": float(d.std()), "min": float(d.min()),
                     "max": float(d.max()), "finite": bool(torch.isfinite(d).all()), "seconds": sec})
    return {"model": repr(denoiser), "shape": list(denoiser.shape), "num_classes": k, "sigma_min": lo,
            "sigma_max": hi, "sigma_data": float(denoiser.sigma_data), "data_range": None if dr is None else list(dr),
            "parameters": getattr(denoiser, "n_parameters", None), "batch": n, "device": str(denoiser.device),
            "calls": rows}


def format_probe(res: dict[str, Any]) -> str:
    """A one-screen text summary of ``probe``'s dict."""
    lines = [res["model"],
             f"parameters: {res['parameters']:,}" if res["parameters"] is not None else "parameters: ?",
             f"shape {tuple(res['shape'])}, classes {res['num_classes'] or 'none (unconditional)'}, "
             f"σ ∈ [{res['sigma_min']:.4g}, {res['sigma_max']:.4g}], σ_data {res['sigma_data']:g}, "
             f"data range {res['data_range']}",
             f"one call on a batch of {res['batch']} on {res['device']}:",
             f"  {'σ':>10} {'mean D':>9} {'std D':>9} {'min D':>9} {'max D':>9} {'s/call':>8}"]
    for r in res["calls"]:
        flag = "" if r["finite"] else "  NON-FINITE"
        lines.append(f"  {r['sigma']:>10.4g} {r['mean']:>9.4f} {r['std']:>9.4f} {r['min']:>9.4f} {r['max']:>9.4f} "
                     f"{r['seconds']:>8.4f}{flag}")
    return "\n".join(lines)
