"""The paper's set-ups (arXiv 2602.09651, docs/theory.md §8) as plain dicts for samplers and the CLI."""

from __future__ import annotations

from typing import Any

# The paper's set-ups (arXiv 2602.09651, docs/theory.md §8), as plain dicts for samplers and the CLI.
PAPER_SETUPS: dict[str, dict[str, Any]] = {
    "edm2-xs": {
        "cond_pkl": "edm2-img512-xs-2147483-0.045.pkl",
        "uncond_pkl": "edm2-img512-xs-uncond-2147483-0.045.pkl",
        "sampler": "edm_stochastic",
        "steps": 64,
        "sigma_min": 0.002,
        "sigma_max": 80.0,
        "rho": 7.0,
        "sigma_data": 0.5,
        "shape": (4, 64, 64),
        "samples": 3000,
    },
    "sd15": {"steps": 100, "sigma_data": 1.0, "shape": (4, 64, 64), "samples": 400},
}
