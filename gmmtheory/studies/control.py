"""The control study: semantic windows, fidelity–diversity fronts and schedule comparisons on fixed mixtures.

Cases (``gmmtheory.presets``): fronts on overlapping classes (d dimensions) — two Gaussians μ̃ = 0.2, four
orthogonal classes μ̃ = 0.2, the hierarchy ±u ± v (μ̃ 0.3 / 0.15), guided by classes or by superclass; schedules on
unequal weights (with equal weights symmetry hides class-frequency errors) at μ̃ = 0.5 / 0.25. Sizes (one vocabulary,
``gmmtheory._sizes``): ``smoke`` and ``quick`` (``gmmtheory report --quick``) are the small table ``SMOKE``,
``full`` (the default report) is ``FULL``; ``EXTENDED`` is the larger closing-note run (4096 samples, two
samplers), reached by passing the table itself. The study returns data and writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from gmmtheory._sizes import SIZES, check_size
from gmmtheory.control.fronts import Front, fidelity_diversity_front
from gmmtheory.control.schedules import ScheduleComparison, schedule_comparison
from gmmtheory.control.theory import TheoryWindows, theory_window
from gmmtheory.mixture import GaussianMixture, Partition
from gmmtheory.presets import build_preset

__all__ = ["EXTENDED", "FULL", "QUICK", "SMOKE", "TABLES", "control_study", "front_cases", "schedule_cases",
           "study_table"]


def front_cases(d: int = 64) -> dict[str, tuple[GaussianMixture, Partition | None]]:
    """Overlapping classes (w = 1 already gives near-perfect fidelity for well-separated classes, so guidance
    can only cost): name → (mixture, guided partition or None)."""
    h = build_preset("hierarchical", d=d, mu=0.3, mu_sub=0.15)
    return {
        "two": (build_preset("two", d=d, mu=0.2).mixture, None),
        "kclasses": (build_preset("kclasses", K=4, d=d, mu=0.2).mixture, None),
        "hier/classes": (h.mixture, None),
        "hier/super": (h.mixture, h.partitions["coarse"]),
    }


def schedule_cases(d: int = 64) -> dict[str, GaussianMixture]:
    """Unequal weights (with equal weights symmetry hides class-frequency errors)."""
    return {
        "two": build_preset("two", d=d, mu=0.5, weights=np.array([0.75, 0.25])).mixture,
        "kclasses": build_preset("kclasses", K=4, d=d, mu=0.5, weights=np.array([0.4, 0.3, 0.2, 0.1])).mixture,
        "hier": build_preset("hierarchical", d=d, mu=0.5, mu_sub=0.25, weights=np.array([0.4, 0.3, 0.2, 0.1])).mixture,
    }


# SMOKE: tests and `gmmtheory report --quick` (seconds); FULL: `gmmtheory report` (~2 min on 2 cores); EXTENDED: the
# closing-note run (~20 min on 2 cores).
SMOKE = {"d": 16, "front_cases": ("two",), "n_samples": 128, "n_steps": 16, "ws": (3.0,), "n_edges": 2,
         "schedule_cases": ("two",), "steps": (4, 8), "sched_n": 256, "blends": (0.0, 0.5), "churns": (0.0,),
         "reference_steps": 32, "n_boot": 20}
QUICK = SMOKE
FULL = {"d": 64, "front_cases": ("two", "kclasses", "hier/super"), "n_samples": 1024, "n_steps": 64,
        "ws": (2.0, 4.0), "n_edges": 3, "schedule_cases": ("two", "kclasses", "hier"), "steps": (4, 8, 16, 32),
        "sched_n": 2048, "blends": (0.0, 0.5, 1.0), "churns": (0.0,), "reference_steps": 256, "n_boot": 100}
EXTENDED = {"d": 64, "front_cases": ("two", "kclasses", "hier/classes", "hier/super"), "n_samples": 4096,
            "n_steps": 64, "ws": (1.5, 2.0, 3.0, 5.0), "n_edges": 4, "schedule_cases": ("two", "kclasses", "hier"),
            "steps": (4, 8, 16, 32, 64), "sched_n": 8192, "blends": (0.0, 0.25, 0.5, 1.0), "churns": (0.0, 40.0),
            "reference_steps": 512, "n_boot": 100}
TABLES = dict(zip(SIZES, (SMOKE, QUICK, FULL)))


def study_table(size: object) -> dict:
    """The settings of a study: ``TABLES[size]`` for a size name, or a copy of a table (dict like ``FULL``)."""
    if isinstance(size, Mapping):
        return dict(size)
    return dict(TABLES[check_size(size)])


def control_study(size: object = "full") -> dict:
    """Everything the report section shows: ``{"cfg": the table, "windows": case → TheoryWindows, "fronts":
    case → Front, "schedules": (case, S_churn) → ScheduleComparison}`` (``size``: a size name or a table)."""
    cfg = study_table(size)
    d = cfg["d"]
    fc = front_cases(d)
    windows: dict[str, TheoryWindows] = {}
    for name in dict.fromkeys(c.split("/")[0] for c in cfg["front_cases"]):
        mix = fc[name if name != "hier" else "hier/classes"][0]
        part = {"coarse": fc["hier/super"][1]} if name == "hier" else None
        windows[name] = theory_window(mix, partition=part, n_boot=cfg["n_boot"])
    fronts: dict[str, Front] = {}
    for name in cfg["front_cases"]:
        mix, part = fc[name]
        base = name.split("/")[0]
        win = windows[base]["coarse" if part is not None else "classes"]
        fronts[name] = fidelity_diversity_front(mix, w=cfg["ws"], partition=part, window=win, n_edges=cfg["n_edges"],
                                                n_samples=cfg["n_samples"], n_steps=cfg["n_steps"], key=0,
                                                n_boot=cfg["n_boot"], case=name)
    sc = schedule_cases(d)
    schedules: dict[tuple[str, float], ScheduleComparison] = {}
    for churn in cfg["churns"]:
        for name in cfg["schedule_cases"]:
            schedules[(name, churn)] = schedule_comparison(
                sc[name], cfg["steps"], blends=cfg["blends"], n_samples=cfg["sched_n"], S_churn=churn, key=0,
                n_boot=cfg["n_boot"], reference_steps=cfg["reference_steps"],
                case=f"{name} ({'Heun' if churn == 0 else f'S_churn {churn:g}'})")
    return {"cfg": cfg, "windows": windows, "fronts": fronts, "schedules": schedules}
