"""Phase diagrams: H[Z_P | X_t]/H[Z_P] (and the rate, φ, Bayes error) on a grid of time × one or two parameters.

A *phase diagram* tells where, in (time × parameter) space, a mixture is semantically undecided (H ≈ H[Z]),
deciding, or decided (H ≈ 0), and where the landmark curves run::

    pd = phase_diagram({"d": np.geomspace(10, 1e6, 61)}, np.linspace(0.01, 10, 256), process=OU())
    pd.values["H_norm"]          # (61, 256): H[Z | X_t]/H[Z]
    pd.landmarks["half"]         # (61,): the time where H = ½ H[Z], one per d
    pd.save("vp.npz"); PhaseDiagram.load("vp.npz")

Modules (one concept each):

- ``params``: the axes ``PARAMS``, models ``MODELS``, defaults, argument checks and the mixture of one cell
  (built from the catalogue ``gmmtheory.presets.PRESETS``);
- ``cells``: what one unit computes — a cell of the loop (the engine with common random numbers), a guided cell,
  a chunk of the fast path (two Gaussians: one vmapped binary-channel quadrature in the effective SNR
  s = a² d μ̃²/(a² s_w² + σ²), dH/dt = −½ mmse_b(s) ds/dt by I-MMSE);
- ``landmarks``: the landmark curves of whole grids (``grid_landmarks``);
- ``cache``: the resumable, fingerprinted, checksummed cache (``cache=DIR``; ``CacheWarning``);
- ``distributed``: multi-host start-up (``init_distributed``), devices and gathering;
- ``diagram``: the result ``PhaseDiagram`` and its one-file format;
- ``sweep``: ``phase_diagram`` itself.

Figures (``plot_phase``) and the report section are in ``gmmtheory.report.phase``, the default sweeps in
``gmmtheory.studies.phase``, the ``gmmtheory phase`` command in ``gmmtheory.cli.phase``.
"""

from __future__ import annotations

from gmmtheory.phase.cache import CacheWarning
from gmmtheory.phase.diagram import PhaseDiagram, quantity_key
from gmmtheory.phase.distributed import init_distributed
from gmmtheory.phase.landmarks import LEVEL_FRACTIONS, grid_landmarks
from gmmtheory.phase.params import (
    DEFAULTS,
    MODEL_PARAMS,
    MODELS,
    PARAMS,
    QUANTITIES,
    build_mixture,
    infer_model,
    level_names,
)
from gmmtheory.phase.sweep import METHODS, phase_diagram

__all__ = [
    "DEFAULTS",
    "LEVEL_FRACTIONS",
    "METHODS",
    "MODELS",
    "MODEL_PARAMS",
    "PARAMS",
    "QUANTITIES",
    "CacheWarning",
    "PhaseDiagram",
    "build_mixture",
    "grid_landmarks",
    "infer_model",
    "init_distributed",
    "level_names",
    "phase_diagram",
    "quantity_key",
]
