"""The phase-diagram study: the fixed sweeps of the report's phase section (keyword arguments of ``phase_diagram``).

Four sweeps: two Gaussians (|m|² = d μ̃², unit variance) over d × OU time (``vp_d``) and d × EDM σ (``edm_d``), over
the separation μ̃ × OU time at d = 1000 (``separation``), and the hierarchy ±u ± v over the level ratio × OU time
(``hierarchy``, reduced Monte Carlo with common random numbers). The first three are fast-path (one vectorised
binary-channel quadrature per chunk), the hierarchy a cell loop. ``size`` (``gmmtheory._sizes``): ``smoke`` (tests:
the smallest grids that still run every path), ``quick`` (``gmmtheory report --quick``), ``full`` (the report).
"""

from __future__ import annotations

import numpy as np

from gmmtheory._sizes import check_size
from gmmtheory.processes import EDM, OU

__all__ = ["GRIDS", "default_sweeps"]

# size → (points on the d and μ̃ axes, times of the fast sweeps, hierarchy ratios, hierarchy times, hierarchy draws)
GRIDS = {
    "smoke": (5, 32, 3, 16, 2**9),
    "quick": (25, 128, 7, 48, 2**11),
    "full": (61, 256, 13, 96, 2**12),
}


def default_sweeps(size: str = "full") -> dict[str, dict]:
    """The sweeps of the report section: name → keyword arguments of ``phase_diagram``."""
    nd, nt, n_ratio, nt_hier, n_samples = GRIDS[check_size(size)]
    dims = np.unique(np.round(np.geomspace(10, 1e6, nd)).astype(int))
    t_ou = np.linspace(0.01, 10.0, nt)
    sig = np.geomspace(1e-2, 1e4, nt)
    return {
        "vp_d": dict(axes={"d": dims}, t=t_ou, process=OU()),
        "edm_d": dict(axes={"d": dims}, t=sig, process=EDM()),
        "separation": dict(axes={"mu": np.geomspace(0.03, 3.0, nd)}, t=np.linspace(0.01, 8.0, nt), process=OU(),
                           params={"d": 1000}),
        "hierarchy": dict(axes={"ratio": np.geomspace(0.03, 1.0, n_ratio)}, t=np.linspace(0.05, 7.0, nt_hier),
                          process=OU(), params={"d": 1000, "mu": 1.0}, quantities=("H", "rate"),
                          n_samples=n_samples, key=0),
    }
