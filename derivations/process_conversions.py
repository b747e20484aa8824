"""Time conversions at equal SNR between OU, VP (linear β), VE, EDM(σ_data) and Flow.

H[Z | X_t] depends on t only through γ(t) = a²/σ², so a time t of process p corresponds to the time t' of process q
solving γ_q(t') = γ_p(t). Each inverse map t = T_q(γ) is solved symbolically with sympy (root chosen in the
process's time domain), verified by substitution, composed into t' = T_q(γ_p(t)) for every ordered pair — including
OU ↔ VE: t_OU = ½ log(1 + σ²) — and checked against ``process.t_from_log_snr`` and ``process.convert``.

Run: ``python derivations/process_conversions.py [OUT_DIR]``.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402
from _common import Doc, cli  # noqa: E402

import gmmtheory as gt  # noqa: E402

NAME = "process_conversions"

t, g, b, r, rho = sp.symbols("t gamma B r rho", positive=True)
bmin, dbeta, sd = sp.symbols(r"beta_min Delta_beta sigma_d", positive=True)  # Δβ = β_max − β_min > 0
B_of_t = bmin * t + dbeta * t**2 / 2

# (a(t), σ(t)²) of every process, exactly as in docs/theory.md §2
PROCESSES = {
    "OU": (sp.exp(-t), 1 - sp.exp(-2 * t)),
    "VP": (sp.exp(-B_of_t / 2), 1 - sp.exp(-B_of_t)),
    "VE": (sp.Integer(1), t),
    "EDM": (sd, t**2),
    "Flow": (1 - t, t**2),
}
# a point inside each time domain, used only to pick the right root of a quadratic
DOMAIN = {"OU": (0, sp.oo), "VP": (0, 1), "VE": (0, sp.oo), "EDM": (0, sp.oo), "Flow": (0, 1)}
NUMERIC_PARAMS = {bmin: sp.Rational(1, 10), dbeta: sp.Rational(199, 10), sd: sp.Rational(1, 2)}


def _pick_root(roots: list, lo, hi) -> sp.Expr:
    """The root that lies in the time domain (for a test SNR γ = 0.3 and numeric schedule parameters)."""
    ok = []
    for root in roots:
        v = complex(root.subs(NUMERIC_PARAMS).subs({g: sp.Rational(3, 10), b: sp.log(sp.Rational(13, 3))}).evalf())
        if abs(v.imag) < 1e-12 and lo < v.real and (hi == sp.oo or v.real < hi):
            ok.append(root)
    assert len(ok) == 1, f"expected one root in the time domain, got {ok} of {roots}"
    return ok[0]


def derive(doc: Doc) -> dict[str, tuple[sp.Expr, sp.Expr]]:
    """For each process: (γ(t), T(γ)) with T the symbolic inverse."""
    doc.h("1. SNR of each process and its symbolic inverse")
    doc.p(
        r"""
$\gamma(t) = a(t)^2/\sigma(t)^2$. For each process solve $\gamma(t) = \gamma$ for $t$ with ``sympy.solve`` and keep
the root inside the time domain. VP is solved in two steps: first $e^{-B}/(1 - e^{-B}) = \gamma$ for
$B = \int_0^t\beta = \beta_{\min}t + \tfrac12\Delta\beta\,t^2$ ($\Delta\beta = \beta_{\max} - \beta_{\min}$), then
the quadratic $B(t) = B$. Flow's two roots $(\pm\sqrt\gamma - 1)/(\gamma - 1)$ are simplified with $\gamma = r^2$.
"""
    )
    out = {}
    for name, (a, s2) in PROCESSES.items():
        gam = sp.simplify(a**2 / s2)
        if name == "VP":
            gb = sp.exp(-b) / (1 - sp.exp(-b))
            b_sol = _pick_root(sp.solve(sp.Eq(gb, g), b), 0, sp.oo)
            t_sol = _pick_root(sp.solve(sp.Eq(B_of_t, b), t), 0, 1)
            inv = t_sol.subs(b, b_sol)
            doc.eq(r"\text{VP: } B(\gamma) =", b_sol, r",\qquad t(B) =", t_sol)
            doc.symbolic("VP: e^{−B}/(1−e^{−B}) at B(γ) is γ", gb.subs(b, b_sol) - g)
            doc.symbolic("VP: B(t(B)) = B", sp.expand(B_of_t.subs(t, t_sol)) - b)
        else:
            roots = sp.solve(sp.Eq(gam, g), t)
            inv = _pick_root(roots, *DOMAIN[name])
            if name == "Flow":
                inv = sp.simplify(sp.cancel(inv.subs(g, r**2))).subs(r, sp.sqrt(g))
            doc.symbolic(f"{name}: γ(T(γ)) = γ", sp.simplify(gam.subs(t, inv) - g))
        out[name] = (gam, inv)
    lines = ["| process | a(t) | σ(t)² | γ(t) | t = T(γ) |", "|---|---|---|---|---|"]
    for name, (a, s2) in PROCESSES.items():
        gam, inv = out[name]
        lines.append(f"| {name} | ${sp.latex(a)}$ | ${sp.latex(s2)}$ | ${sp.latex(gam)}$ | ${sp.latex(inv)}$ |")
    doc.p("\n".join(lines))
    doc.checks_table()
    return out


def compose(doc: Doc, maps: dict) -> dict[tuple[str, str], sp.Expr]:
    doc.h("2. Conversions t' = T_q(γ_p(t)) for every ordered pair")
    doc.p(r"With $\lambda = \log\gamma$: ``p.t_from_log_snr(λ)`` $= T_p(e^\lambda)$ and "
          r"``p.convert(t, q)`` $= T_q(\gamma_p(t))$.")
    conv = {}
    lines = ["| from p | to q | t' = T_q(γ_p(t)) |", "|---|---|---|"]
    for p in maps:
        for q in maps:
            if p == q:
                continue
            # substitute the noise-to-signal ratio ρ_p = 1/γ_p = σ_p²/a_p² into T_q(1/ρ)
            rho_p = sp.simplify(PROCESSES[p][1] / PROCESSES[p][0] ** 2)
            expr = sp.simplify(maps[q][1].subs(g, 1 / rho)).subs(rho, rho_p)
            nice = sp.simplify(expr)
            conv[(p, q)] = nice
            lines.append(f"| {p} | {q} | ${sp.latex(nice)}$ |")
    doc.p("\n".join(lines))
    doc.h("3. OU ↔ VE and OU ↔ EDM: t = ½ log(1 + σ²)")
    sigma = sp.symbols("sigma", positive=True)
    ou_from_ve = conv[("VE", "OU")].subs(t, sigma**2)  # VE time is σ²
    ou_from_edm1 = conv[("EDM", "OU")].subs({t: sigma, sd: 1})  # EDM time is σ
    target = sp.log(1 + sigma**2) / 2
    doc.eq(r"t_{\rm OU}(\sigma) = T_{\rm OU}(1/\sigma^2) =", sp.simplify(ou_from_ve))
    doc.symbolic("VE (t = σ²) → OU: ½ log(1 + σ²)", sp.expand_log(ou_from_ve - target, force=True))
    doc.symbolic("EDM(σ_data=1) (t = σ) → OU: ½ log(1 + σ²)", sp.expand_log(ou_from_edm1 - target, force=True))
    doc.symbolic("OU → VE: σ² = e^{2t} − 1", sp.simplify(conv[("OU", "VE")] - (sp.exp(2 * t) - 1)))
    doc.symbolic(
        "OU → EDM(σ_data): σ = σ_data √(e^{2t} − 1)",
        sp.simplify(conv[("OU", "EDM")] ** 2 - sd**2 * (sp.exp(2 * t) - 1)),
    )
    doc.p(
        r"""
For general $\sigma_{\rm data}$, EDM's $\sigma$ corresponds to OU time
$t = \tfrac12\log(1 + \sigma^2/\sigma_{\rm data}^2)$ (the data are $\sigma_{\rm data}X_0$).
"""
    )
    doc.symbolic(
        "EDM(σ_data) → OU: ½ log(1 + σ²/σ_data²)",
        sp.expand_log(conv[("EDM", "OU")].subs(t, sigma) - sp.log(1 + sigma**2 / sd**2) / 2, force=True),
    )
    doc.checks_table()
    return conv


def numeric_checks(doc: Doc, maps: dict, conv: dict) -> None:
    doc.h("4. Numerical checks against the library (float64)")
    lib = {"OU": gt.OU(), "VP": gt.VP(0.1, 20.0), "VE": gt.VE(), "EDM": gt.EDM(0.5), "Flow": gt.Flow()}
    params = {bmin: 0.1, dbeta: 19.9, sd: 0.5}
    lam = np.linspace(-6.0, 6.0, 25)
    doc.p(
        "Processes: OU(), VP(0.1, 20), VE(), EDM(0.5), Flow(); log-SNR grid λ ∈ [−6, 6] (25 points); the closed forms "
        "are lambdified from the sympy expressions above."
    )
    times = {}
    for name, (gam, inv) in maps.items():
        T = sp.lambdify(g, inv.subs(params), "numpy")
        ref = T(np.exp(lam))
        times[name] = ref
        doc.close(f"{name}.t_from_log_snr(λ) = T(e^λ)", lib[name].t_from_log_snr(lam), ref, 1e-12, rel=True)
        G = sp.lambdify(t, sp.log(gam.subs(params)), "numpy")
        doc.close(f"{name}.log_snr(t) = log γ(t)", lib[name].log_snr(ref), G(ref), 1e-10, rel=True)
    for (p, q), expr in conv.items():
        f = sp.lambdify(t, expr.subs(params), "numpy")
        doc.close(f"{p}.convert(t, {q}) = T_q(γ_p(t))", lib[p].convert(times[p], lib[q]), f(times[p]), 1e-10, rel=True)
    sig = np.geomspace(0.01, 100.0, 9)
    doc.close("OU.t_from_sigma_ve(σ) = ½ log(1 + σ²)", gt.OU().t_from_sigma_ve(sig),
              0.5 * np.log1p(sig**2), 1e-12, rel=True)
    doc.close("VE.convert(σ², OU) = ½ log(1 + σ²)", gt.VE().convert(sig**2, gt.OU()),
              0.5 * np.log1p(sig**2), 1e-12, rel=True)
    doc.close("EDM(1).convert(σ, OU) = ½ log(1 + σ²)", gt.EDM(1.0).convert(sig, gt.OU()),
              0.5 * np.log1p(sig**2), 1e-12, rel=True)
    doc.close("EDM(0.5).convert(σ, OU) = ½ log(1 + σ²/0.25)", gt.EDM(0.5).convert(sig, gt.OU()),
              0.5 * np.log1p(sig**2 / 0.25), 1e-12, rel=True)
    doc.checks_table()


def main(out_dir: str | os.PathLike | None = None) -> str:
    doc = Doc(NAME, "Time conversions at equal SNR: OU, VP, VE, EDM, Flow")
    doc.p(
        r"""
Every process is $X_t = a(t)X_0 + \sigma(t)\varepsilon$ and the class posterior depends on $t$ only through
$\gamma = a^2/\sigma^2$, so times of two processes are equivalent when their SNRs agree.
"""
    )
    maps = derive(doc)
    conv = compose(doc, maps)
    numeric_checks(doc, maps, conv)
    return doc.finish(out_dir)


if __name__ == "__main__":
    cli(main)
