"""Shared helpers for the derivation scripts: float64 JAX, a tiny Markdown builder, and checks that raise.

Every derivation script builds a ``Doc``: prose, sympy equations (rendered as LaTeX) and numerical checks. A check
records a row (what, computed, reference, |difference|, tolerance, pass/fail) and the script's ``main`` calls
``doc.finish()``, which raises ``AssertionError`` listing every failed check after the Markdown is complete (so the
Markdown of a failing run still shows what failed).
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402


def tex(expr: object) -> str:
    """LaTeX of a sympy expression (or a string passed through)."""
    return expr if isinstance(expr, str) else sp.latex(expr)


class Doc:
    """Markdown under construction plus the list of checks made while building it."""

    def __init__(self, name: str, title: str) -> None:
        self.name = name
        self.lines: list[str] = [f"# {title}", ""]
        self.rows: list[tuple[str, str, str, str, str, bool]] = []
        self.failures: list[str] = []

    # ------------------------------------------------------------------------------------------------ prose
    def h(self, text: str) -> None:
        self.lines += [f"## {text}", ""]

    def p(self, text: str) -> None:
        self.lines += [text.strip(), ""]

    def eq(self, *parts: object) -> None:
        """A display equation from sympy expressions and/or LaTeX strings joined by spaces."""
        self.lines += ["$$", " ".join(tex(x) for x in parts), "$$", ""]

    def eqn(self, lhs: object, rhs: object, rel: str = "=") -> None:
        self.eq(lhs, rel, rhs)

    # ---------------------------------------------------------------------------------------------- checks
    def symbolic(self, what: str, expr: object) -> None:
        """Assert that a sympy expression simplifies to exactly zero (or is True)."""
        ok = expr is sp.true or expr is True
        if not ok:
            e = sp.simplify(expr)
            ok = e == 0 or e is sp.true
        self._record(what, "symbolic", "0", "exact" if ok else tex(expr), "exact", ok)

    def close(self, what: str, value: object, ref: object, tol: float, *, rel: bool = False) -> None:
        """Assert max |value − ref| ≤ tol (relative to max(|ref|, 1) when ``rel``)."""
        v = np.asarray(value, dtype=np.float64)
        r = np.asarray(ref, dtype=np.float64)
        diff = np.abs(v - r)
        if rel:
            diff = diff / np.maximum(np.abs(r), 1.0)
        err = float(np.max(diff)) if diff.size else 0.0
        ok = bool(np.all(np.isfinite(v))) and err <= tol
        self._record(what, _fmt(v), _fmt(r), f"{err:.2e}", f"{tol:.0e}{' rel' if rel else ''}", ok)

    def within_se(self, what: str, value: float, ref: float, se: float, k: float = 4.0) -> None:
        """Assert |value − ref| ≤ k·se (a Monte Carlo comparison; se is the combined standard error)."""
        err = abs(float(value) - float(ref))
        ok = bool(np.isfinite(value)) and err <= k * float(se)
        self._record(
            what, f"{float(value):.6g} ± {float(se):.2g}", f"{float(ref):.6g}", f"{err / se:.2f} SE", f"{k:g} SE", ok
        )

    def _record(self, what: str, v: str, r: str, err: str, tol: str, ok: bool) -> None:
        self.rows.append((what, v, r, err, tol, ok))
        if not ok:
            self.failures.append(f"{what}: computed {v}, reference {r}, error {err} > {tol}")

    def checks_table(self) -> None:
        """Flush the checks recorded so far into a Markdown table."""
        if not self.rows:
            return
        self.lines += [
            "| check | computed | reference | error | tolerance | ok |",
            "|---|---|---|---|---|---|",
        ]
        for what, v, r, err, tol, ok in self.rows:
            cells = (what, v, r, err, tol, "✓" if ok else "✗ FAIL")
            self.lines.append("| " + " | ".join(c.replace("|", r"\|") for c in cells) + " |")
        self.lines.append("")
        self.rows = []

    # ---------------------------------------------------------------------------------------------- output
    def finish(self, out_dir: str | os.PathLike | None) -> str:
        self.checks_table()
        status = "all checks passed" if not self.failures else f"{len(self.failures)} check(s) FAILED"
        self.lines += [f"_Result: {status}._", ""]
        text = "\n".join(self.lines)
        if out_dir is not None:
            path = Path(out_dir)
            path.mkdir(parents=True, exist_ok=True)
            (path / f"{self.name}.md").write_text(text, encoding="utf-8")
        if self.failures:
            raise AssertionError(f"{self.name}: " + "; ".join(self.failures))
        return text


def _fmt(a: np.ndarray) -> str:
    flat = a.reshape(-1)
    if flat.size == 1:
        return f"{flat[0]:.10g}"
    shown = ", ".join(f"{x:.6g}" for x in flat[:4])
    return f"[{shown}{', …' if flat.size > 4 else ''}] ({flat.size} values)"


def default_out_dir() -> Path:
    """derivations/out next to the scripts (gitignored by the repository's ``out/`` rule)."""
    return Path(__file__).resolve().parent / "out"


def cli(main) -> None:  # pragma: no cover - thin wrapper
    """``python derivations/NAME.py [OUT_DIR]``: write the Markdown (default derivations/out/) and print it."""
    import sys

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else default_out_dir()
    try:
        text = main(out)
    except AssertionError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    print(text)
