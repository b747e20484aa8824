"""Figures with a shipped matplotlib style and the Agg backend (no display needed)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = resources.files("gmmtheory") / "styles" / "gmmtheory.mplstyle"


def style():
    """Context manager applying the gmmtheory style."""
    return plt.style.context(str(STYLE))


def save(fig: "matplotlib.figure.Figure", out_dir: Path, stem: str, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Write ``fig`` as out_dir/stem.{png,pdf}; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in formats:
        path = out_dir / f"{stem}.{ext}"
        fig.savefig(path)
        paths.append(path)
    plt.close(fig)
    return paths
