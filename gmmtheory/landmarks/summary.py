"""Every speciation landmark of a mixture under one process, in one record (``all_landmarks`` → ``Landmarks``).

Point landmarks: Λ and t_S = ½ log Λ (``spectral``); for two classes with a shared covariance the bimodality
(s = 1) and reverse-SDE instability times (``binary``); for covariance-only classes N(μ, (1 ± a) I) the time
¼ log(a² d). Entropy landmarks (``entropy``): one ``CurveLandmarks`` per partition, "classes" first. Every
criterion keeps its own name; they differ by O(1) in log-time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from gmmtheory.entropy.covariance_only import is_covariance_only
from gmmtheory.landmarks.binary import bimodality_time, instability_time
from gmmtheory.landmarks.curves import entropy_curves
from gmmtheory.landmarks.entropy import CurveLandmarks, curve_landmarks
from gmmtheory.landmarks.spectral import covariance_speciation_time, speciation_time, top_eigenvalue
from gmmtheory.mixture import GaussianMixture, Partition, check_mixture
from gmmtheory.processes import OU, Process, check_process

_OU = OU()


@dataclass(frozen=True)
class Landmarks:
    """Every landmark of a mixture under one process (times in that process's native time).

    Fields: ``top_eigenvalue`` Λ; ``t_speciation`` (½ log Λ, mapped); ``t_bimodality`` (s = 1), ``t_instability``
    (reverse-SDE instability of the central point, VP dynamics) — two classes with shared covariance only, else nan;
    ``t_covariance_speciation`` (¼ log(a² d), two classes N(μ, (1 ± a)I) only, else nan); ``entropy``: one
    ``CurveLandmarks`` per partition, "classes" first.
    """

    process: str
    K: int
    d: int
    top_eigenvalue: float
    t_speciation: float
    t_bimodality: float
    t_instability: float
    t_covariance_speciation: float
    entropy: dict[str, CurveLandmarks] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"Landmarks(process={self.process!r}, K={self.K}, d={self.d}, "
                f"top_eigenvalue={self.top_eigenvalue:.6g}, "
                f"t_speciation={self.t_speciation:.6g}, t_bimodality={self.t_bimodality:.6g}, "
                f"t_instability={self.t_instability:.6g}, t_covariance_speciation={self.t_covariance_speciation:.6g}, "
                f"entropy={list(self.entropy)})")

    def as_dict(self) -> dict[str, Any]:
        """A flat dict: the point landmarks, then ``"<partition>.<field>"`` for every entropy landmark."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "entropy"}
        for name, cl in self.entropy.items():
            for k, v in cl.as_dict().items():
                if k != "label":
                    out[f"{name}.{k}"] = v
        return out


def all_landmarks(
    mixture: GaussianMixture,
    process: Process | str = _OU,
    *,
    partitions: dict[str, Partition] | None = None,
    t_grid: object = None,
    n_grid: int = 161,
    n_samples: int | None = None,
    key: object = None,
) -> Landmarks:
    """All speciation landmarks of ``mixture`` in the time of ``process`` (see the module docstring).

    Args:
        partitions: name → Partition; each gets its own entropy landmarks (the labels themselves are "classes").
        t_grid: times of ``process`` for the Monte Carlo curves (default: ``n_grid`` log-SNRs spanning the class
            transitions, chosen from the between-class covariance spectrum); for exact curves it bounds the search.
        n_samples, key: Monte Carlo draws and PRNG key (exact curves ignore them).
    """
    mix = check_mixture(mixture)
    process = check_process(process)
    nan = float("nan")
    binary = mix.K == 2 and mix.shared_covariance
    t_bi = bimodality_time(mix, process) if binary else nan
    t_in = instability_time(mix, process) if binary else nan
    t_cov = nan
    if is_covariance_only(mix):
        v0, v1 = mix.cov
        if abs((v0 + v1) / 2 - 1.0) < 1e-12:
            t_cov = covariance_speciation_time(mix.d, abs(v0 - v1) / 2, process)
    curves = entropy_curves(mix, partitions or {}, t_grid=t_grid, process=process, n_grid=n_grid,
                            n_samples=n_samples, key=key)
    ent = {c.label: curve_landmarks(c, process) for c in curves}
    return Landmarks(repr(process), mix.K, mix.d, top_eigenvalue(mix), speciation_time(mix, process), t_bi, t_in,
                     t_cov, ent)


__all__ = ["Landmarks", "all_landmarks"]
