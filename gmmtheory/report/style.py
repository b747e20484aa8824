"""The shipped figure style and the Markdown table of every report section.

``style()`` applies report/styles/gmmtheory.mplstyle with matplotlib's Agg backend (no display needed; matplotlib
is imported on first use), ``save`` writes a figure as out_dir/stem.{png,pdf}; ``markdown_table`` lays rows out as
a Markdown table (NaN shown as "–").
"""

from __future__ import annotations

import functools
import math
from importlib import resources
from pathlib import Path
from typing import Any

STYLE = resources.files("gmmtheory") / "report" / "styles" / "gmmtheory.mplstyle"


@functools.cache
def pyplot() -> Any:
    """``matplotlib.pyplot`` with the Agg backend (imported, and the backend chosen, on the first call)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def style():
    """Context manager applying the gmmtheory style."""
    return pyplot().style.context(str(STYLE))


def save(fig: Any, out_dir: Path, stem: str, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Write the matplotlib figure ``fig`` as out_dir/stem.{png,pdf}; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in formats:
        path = out_dir / f"{stem}.{ext}"
        fig.savefig(path)
        paths.append(path)
    pyplot().close(fig)
    return paths


def markdown_table(rows: list[dict], cols: list[tuple[str, str, str]]) -> list[str]:
    """Lines of a Markdown table: one row per dict, ``cols`` = (header, key, format spec) per column. Numbers are
    formatted with their spec, NaN (not applicable, e.g. no bootstrap for an exact curve) shows as "–", anything
    else with ``str``."""
    lines = ["| " + " | ".join(h for h, _, _ in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for _, key, fmt in cols:
            v = r[key]
            if isinstance(v, float) and math.isnan(v):
                cells.append("–")
            elif isinstance(v, (float, int)) and not isinstance(v, bool):
                cells.append(format(v, fmt))
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return lines
