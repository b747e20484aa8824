"""Markdown tables for the report sections and command-line output."""

from __future__ import annotations

import math


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
