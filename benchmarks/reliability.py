"""Reliability campaign: bad inputs and injected faults, each classified as handled or not.

Two families of cases are enumerated programmatically (cross products of functions × bad values, subcommands ×
bad options, cache files × corruptions) and each case is run once, in this process, under a per-case time limit
(``signal.alarm``; the few cases that could run without end run in a child process with a memory limit):

* **bad inputs** (``family="bad_input"``): the public API (mixtures, processes, partitions, the entropy engine,
  the rate, the pointwise posterior functions) and the command line (``gmmtheory.cli.main(argv)`` in-process,
  stdout/stderr captured). *Handled* means a ``ValueError`` raised by gmmtheory's own validation (not by
  numpy/jax internals) within ``SLOW_S`` seconds — or, for the CLI, exit status 2 with an ``error:`` line on
  stderr and no traceback. Anything else is a failure: another exception type, a ``ValueError`` from inside
  jax/numpy, a late error, silent acceptance (a result returned; NaN noted), exit status 0 or 1, a timeout.
  A few edge inputs that a fix may legitimately *accept* (huge means, huge variances) count as handled when the
  returned values are valid (finite, 0 ≤ H ≤ H[Z], 0 ≤ P_e ≤ 1, e^{−H} ≤ φ ≤ 1).
* **faults** (``family="fault"``): the phase-diagram cache (part files truncated, emptied, garbage, swapped, NaN,
  missing a quantity; ``meta.json`` truncated, empty, deleted, foreign), two sweeps differing only in a process
  parameter sharing one cache folder, a tampered ``PhaseDiagram.save`` file, a truncated mixture ``.npz``.
  *Survived* means the values returned equal a fresh cache-less run (recomputed, with or without a warning), or a
  ``ValueError`` (exit status 2 on the CLI) whose message names the file or folder. Anything else — a traceback,
  different values, a silently loaded tampered file — is a failure.

Run ``python -m benchmarks.reliability [--json OUT] [--only SUBSTRING]``; it prints the counts per category and
the failing cases. The whole campaign takes about two minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CASE_TIMEOUT_S = 20  # per case (signal.alarm); a timeout is a failure
CHILD_TIMEOUT_S = 15  # per isolated case (child process)
CHILD_MEMORY = 6 * 2**30  # address-space limit of an isolated case
SLOW_S = 2.0  # a ValueError raised later than this counts as "late" (validation after heavy work)

HANDLED = "handled"
SURVIVED = "survived"
OK_OUTCOMES = (HANDLED, SURVIVED)
FAIL_KINDS = ("accepted", "nan_output", "wrong_exception", "foreign_error", "late_error", "unclear_error",
              "traceback", "exit_0", "exit_1", "exit_other", "wrong_values", "timeout", "setup_error")


class CaseTimeout(BaseException):
    """Raised by the alarm handler; a BaseException so that library ``except Exception`` blocks don't eat it."""


@dataclass
class Case:
    """One campaign case.

    family: "bad_input" or "fault"; category: a group name for the table; name: unique, stable identifier.
    run: callable(ctx) doing the work. For API bad inputs it calls the API (its return value is the result);
    for CLI cases it returns a ``CliResult``; for faults it returns the values to compare with ``reference``.
    kind: "api" (expect ValueError), "cli" (expect exit 2), "fault" (expect recovery or a clear error).
    accept: for edge inputs that may be accepted: result → None if the result is valid, else a reason.
    reference: for faults, callable(ctx) → the values a fresh cache-less run gives.
    names: for faults, substrings of which one must appear in an error message (the file or folder).
    mention: for API cases, a regex the ValueError message must match (e.g. the duplicate label).
    isolate: run in a child process (cases that could run without end or exhaust memory).
    """

    family: str
    category: str
    name: str
    run: Callable[[Any], Any]
    kind: str = "api"
    accept: Callable[[Any], str | None] | None = None
    reference: Callable[[Any], Any] | None = None
    names: Callable[[Any], list[str]] | None = None
    mention: str | None = None
    isolate: bool = False


@dataclass
class Outcome:
    family: str
    category: str
    name: str
    outcome: str
    reason: str = ""
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.outcome in OK_OUTCOMES


@dataclass
class CliResult:
    code: object
    stdout: str
    stderr: str
    exc: BaseException | None = None
    tb: str = ""


# ================================================================================================ context
class Context:
    """Lazily built fixtures shared by the cases (small mixtures, a scratch folder, reference phase diagrams)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self._memo: dict[str, Any] = {}
        self._n = itertools.count()

    def memo(self, key: str, build: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    def fresh_dir(self, stem: str) -> Path:
        p = self.tmp / f"{stem}_{next(self._n)}"
        p.mkdir(parents=True)
        return p

    @property
    def gt(self):
        import gmmtheory

        return gmmtheory

    @property
    def two(self):  # K = 2, shared isotropic: quadrature applies
        return self.memo("two", lambda: self.gt.two_gaussians(4, 1.0))

    @property
    def k3(self):  # K = 3, shared isotropic: reduced Monte Carlo
        return self.memo("k3", lambda: self.gt.k_classes(3, 4, 1.0))

    @property
    def points(self):  # singular: a mixture of points (Σ_k = 0)
        return self.memo("points", lambda: self.gt.GaussianMixture(np.array([[1.0, 0.0], [-1.0, 0.5]]), 0.0))


# ================================================================================================ running
def _alarm(signum, frame):  # pragma: no cover - signal handler
    raise CaseTimeout()


def _raising_frame(exc: BaseException) -> str:
    """Where ``exc`` was raised: "gmmtheory" (its own validation), "harness" (this script) or the file's name."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "gmmtheory"
    last = frames[-1].filename.replace("\\", "/")
    if last.endswith("benchmarks/reliability.py"):
        return "harness"
    return "gmmtheory" if "/gmmtheory/" in last else Path(last).name


def _short(text: object, n: int = 160) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= n else s[: n - 1] + "…"


def _nan_in(result: object) -> bool:
    vals = []
    for attr in ("value", "stderr"):
        if hasattr(result, attr):
            vals.append(getattr(result, attr))
    if not vals and result is not None:
        vals.append(result)
    for v in vals:
        try:
            a = np.asarray(v, dtype=float)
        except (TypeError, ValueError):
            continue
        if a.size and not np.all(np.isfinite(a)):
            return True
    return False


def run_cli(argv: list[str]) -> CliResult:
    """``gmmtheory.cli.main(argv)`` in this process, stdout/stderr captured, SystemExit turned into a code."""
    from gmmtheory import cli

    out, err = io.StringIO(), io.StringIO()
    code: object = None
    exc = None
    tb = ""
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as e:
            code = e.code
            if isinstance(code, str):  # SystemExit("message"): Python prints it and exits with status 1
                err.write(code + "\n")
                code = 1
            elif code is None:
                code = 0
        except CaseTimeout:
            raise
        except BaseException as e:  # noqa: BLE001 - a traceback is what we classify
            exc = e
            tb = traceback.format_exc()
    return CliResult(code, out.getvalue(), err.getvalue(), exc, tb)


def classify_cli(res: CliResult) -> tuple[str, str]:
    if res.exc is not None:
        return "traceback", f"{type(res.exc).__name__}: {_short(res.exc)}"
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    if res.code == 2:
        if "Traceback" in res.stderr:
            return "traceback", "exit 2 but a traceback on stderr"
        if not lines or "error" not in lines[-1]:
            return "unclear_error", f"exit 2 without an error line: {_short(res.stderr)}"
        return HANDLED, _short(lines[-1])
    tail = _short(lines[-1]) if lines else "(no stderr)"
    if res.code == 0:
        return "exit_0", f"exit 0: {tail}"
    if res.code == 1:
        return "exit_1", f"exit 1: {tail}"
    return "exit_other", f"exit {res.code!r}: {tail}"


def _message_names(msg: str, names: list[str]) -> bool:
    return any(n and n in msg for n in names)


def _compare(got: Any, ref: Any) -> str | None:
    """None when ``got`` equals ``ref`` (dicts of arrays; NaN equal to NaN; rtol 1e-9), else the difference."""
    if isinstance(ref, dict):
        if not isinstance(got, dict):
            return f"expected a dict of arrays, got {type(got).__name__}"
        missing = sorted(set(ref) - set(got))
        if missing:
            return f"missing quantities {missing[:4]}"
        worst, where = 0.0, None
        for k in ref:
            r, g = np.asarray(ref[k], dtype=float), np.asarray(got[k], dtype=float)
            if r.shape != g.shape:
                return f"{k}: shape {g.shape} ≠ {r.shape}"
            bad = ~np.isclose(g, r, rtol=1e-9, atol=1e-12, equal_nan=True)
            if np.any(bad):
                with np.errstate(invalid="ignore"):
                    diff = np.nanmax(np.abs(np.where(bad, g - r, 0.0)))
                n_nan = int(np.sum(np.isnan(g) & ~np.isnan(r)))
                if diff >= worst or n_nan:
                    worst, where = float(diff), f"{k}: {int(bad.sum())} cells differ (max |Δ| {diff:.3g}, {n_nan} NaN)"
        return where
    return None if np.array_equal(np.asarray(got), np.asarray(ref)) else "values differ"


def run_case(case: Case, ctx: Context) -> Outcome:
    """Run one case under the time limit and classify it."""
    if case.isolate:
        return _run_isolated(case)
    t0 = time.perf_counter()
    caught: list[warnings.WarningMessage] = []
    result: Any = None
    exc: BaseException | None = None
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_TIMEOUT_S)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = case.run(ctx)
            except CaseTimeout:
                raise
            except Exception as e:  # noqa: BLE001 - classified below
                exc = e
    except CaseTimeout:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        return Outcome(case.family, case.category, case.name, "timeout", f"no answer within {CASE_TIMEOUT_S} s",
                       time.perf_counter() - t0)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    dt = time.perf_counter() - t0
    kept = [w for w in caught if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))]
    kept.sort(key=lambda w: issubclass(w.category, ResourceWarning))  # the library's own warnings first
    warns = [_short(f"{w.category.__name__}: {w.message}", 120) for w in kept]
    warned = any(not issubclass(w.category, ResourceWarning) for w in kept)
    outcome, reason = _classify(case, ctx, result, exc, dt, warned)
    return Outcome(case.family, case.category, case.name, outcome, reason, dt, warns[:3])


def _classify(case: Case, ctx: Context, result: Any, exc: BaseException | None, dt: float,
              warned: bool = False) -> tuple[str, str]:
    import re

    if case.kind == "cli":
        if exc is not None:
            return "setup_error", f"{type(exc).__name__}: {_short(exc)}"
        outcome, reason = classify_cli(result)
        if outcome == HANDLED and case.names is not None and not _message_names(result.stderr, case.names(ctx)):
            return "unclear_error", f"exit 2 but the message does not name the file: {reason}"
        if case.family == "fault" and outcome == HANDLED:
            return SURVIVED, reason
        return outcome, reason
    if case.kind == "fault":
        if exc is not None:
            if isinstance(exc, ValueError):
                names = case.names(ctx) if case.names is not None else []
                if _message_names(str(exc), names):
                    return SURVIVED, f"refused: {_short(exc)}"
                return "unclear_error", f"ValueError not naming the file: {_short(exc)}"
            return "traceback", f"{type(exc).__name__}: {_short(exc)}"
        try:
            ref = case.reference(ctx)
        except Exception as e:  # noqa: BLE001
            return "setup_error", f"reference failed: {type(e).__name__}: {_short(e)}"
        diff = _compare(result, ref)
        if diff is None:
            note = "with a warning" if warned else "no warning"
            return SURVIVED, f"values equal a fresh cache-less run ({note})"
        return "wrong_values", diff
    # api
    if exc is not None:
        if not isinstance(exc, ValueError):
            return "wrong_exception", f"{type(exc).__name__}: {_short(exc)}"
        where = _raising_frame(exc)
        if where == "harness":
            return "setup_error", f"the campaign's own code raised: {_short(exc)}"
        if where != "gmmtheory":
            return "foreign_error", f"ValueError from {where}: {_short(exc)}"
        if dt > SLOW_S:
            return "late_error", f"ValueError after {dt:.1f} s: {_short(exc)}"
        if case.mention is not None and not re.search(case.mention, str(exc), re.IGNORECASE):
            return "unclear_error", f"message lacks /{case.mention}/: {_short(exc)}"
        return HANDLED, _short(exc)
    if case.accept is not None:
        why = case.accept(result)
        if why is None:
            return HANDLED, "accepted with valid values"
        return ("nan_output" if "NaN" in why or "nan" in why else "accepted"), why
    if _nan_in(result):
        return "nan_output", "accepted silently, NaN in the result"
    return "accepted", f"accepted silently (returned {type(result).__name__})"


def _run_isolated(case: Case) -> Outcome:
    """Run the case in a child process (``--run-case NAME``) with a wall-clock and an address-space limit."""
    t0 = time.perf_counter()

    cmd = [sys.executable, str(Path(__file__).resolve()), "--run-case", case.name]  # this very file
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, env=os.environ.copy())
    except subprocess.TimeoutExpired:
        return Outcome(case.family, case.category, case.name, "timeout",
                       f"no answer within {CHILD_TIMEOUT_S} s (child process)", time.perf_counter() - t0)
    dt = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        err = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip() and not ln.strip().startswith(("@", "***"))]
        tail = _short(err[-1] if err else "", 120)
        how = f"child exited {proc.returncode}"
        if proc.returncode < 0:
            how = (f"child process killed by signal {-proc.returncode} ({signal.Signals(-proc.returncode).name}, "
                   f"memory limit {CHILD_MEMORY / 2**30:.0f} GiB)")
        return Outcome(case.family, case.category, case.name, "traceback", f"{how}: {tail}", dt)
    d = json.loads(lines[-1])
    return Outcome(case.family, case.category, case.name, d["outcome"], d["reason"], d.get("seconds", dt),
                   d.get("warnings", []))


# ================================================================================================ validity checks
def _valid_info() -> Callable[[Any], str | None]:
    """Accept-rule for edge inputs that may be accepted: the returned (H, φ, P_e, H[Z]) must be valid."""

    def check(result: Any) -> str | None:
        H, phi, pe, hz = (np.asarray(r, dtype=float) for r in result)
        if not (np.all(np.isfinite(H)) and np.all(np.isfinite(phi)) and np.all(np.isfinite(pe))):
            return f"NaN/inf in the result (H {H.tolist()}, φ {phi.tolist()}, P_e {pe.tolist()})"
        tol = 1e-6
        if np.any(H < -tol) or np.any(H > hz + tol):
            return f"H outside [0, H[Z]]: {H.tolist()}"
        if np.any(pe < -tol) or np.any(pe > 1 + tol):
            return f"Bayes error outside [0, 1]: {pe.tolist()}"
        if np.any(phi > 1 + tol) or np.any(phi < np.exp(-H) - tol):
            return f"φ outside [e^-H, 1]: {phi.tolist()}"
        return None

    return check


def _edge_mixture(ctx: Context, means: object, cov: object, t: object):
    gt = ctx.gt
    mix = gt.GaussianMixture(means, cov)
    proc = gt.OU()
    H = gt.class_entropy(mix, proc, t).value
    phi = gt.collision_probability(mix, proc, t).value
    pe = gt.bayes_error(mix, proc, t).value
    return H, phi, pe, mix.entropy_of_labels()


# ================================================================================================ bad inputs: API
def _mixture_cases() -> list[Case]:
    cases: list[Case] = []
    ok_means = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])  # K = 2, d = 3

    def add(name: str, fn: Callable[[Any], Any], **kw: Any) -> None:
        cases.append(Case("bad_input", "mixture", f"mixture/{name}", fn, **kw))

    bad_means = {
        "nan": np.array([[np.nan, 0.0], [1.0, 0.0]]),
        "inf": np.array([[np.inf, 0.0], [1.0, 0.0]]),
        "-inf": np.array([[-np.inf, 0.0], [1.0, 0.0]]),
        "complex": np.array([[1 + 1j, 0.0], [1.0, 0.0]]),
        "ndim1": np.array([1.0, 2.0]),
        "ndim3": np.zeros((2, 2, 2)),
        "scalar": 1.0,
        "empty_K": np.zeros((0, 3)),
        "empty_d": np.zeros((2, 0)),
        "string": "abc",
        "none": None,
        "ragged": [[1.0, 2.0], [1.0]],
    }
    for label, means in bad_means.items():
        add(f"means={label}", lambda ctx, m=means: ctx.gt.GaussianMixture(m))

    bad_covs = {
        "non_psd_dxd": np.array([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
        "asymmetric_dxd": np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
        "shape_(4,)": np.ones(4),
        "shape_(2,4)": np.ones((2, 4)),
        "shape_(3,3,3)": np.ones((3, 3, 3)),
        "shape_(2,3,4)": np.ones((2, 3, 4)),
        "negative_scalar": -1.0,
        "negative_class_iso": np.array([-1.0, 1.0]),
        "negative_class_diag": np.array([[1.0, -0.5, 1.0], [1.0, 1.0, 1.0]]),
        "complex_scalar": 1.0 + 1.0j,
        "complex_dxd": np.eye(3) * (1 + 0.5j),
        "nan_scalar": np.nan,
        "inf_scalar": np.inf,
        "nan_dxd": np.where(np.eye(3) > 0, np.nan, 0.0),
        "class_full_one_non_psd": np.stack([np.eye(3), -np.eye(3)]),
        "string": "abc",
    }
    for label, cov in bad_covs.items():
        add(f"cov={label}", lambda ctx, c=cov: ctx.gt.GaussianMixture(ok_means, c))

    # K == d: a (d, d) matrix that is not PSD must not be read silently as per-class diagonal variances
    sq_means = np.eye(3)
    non_psd = np.array([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    add("ambiguous_K=d_non_psd_(d,d)", lambda ctx: ctx.gt.GaussianMixture(sq_means, non_psd))
    add("ambiguous_K=d_asymmetric_(d,d)",
        lambda ctx: ctx.gt.GaussianMixture(sq_means, np.array([[1.0, 0.3, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])))
    for kind in ("full", "diag", "", "SHARED_ISO", 5):
        add(f"cov_kind={kind!r}", lambda ctx, k=kind: ctx.gt.GaussianMixture(ok_means, 1.0, cov_kind=k))
    for kind, cov in (("class_full", np.ones((2, 3))), ("shared_full", np.ones(2)), ("class_iso", np.eye(3))):
        add(f"cov_kind={kind}_mismatch", lambda ctx, k=kind, c=cov: ctx.gt.GaussianMixture(ok_means, c, cov_kind=k))

    bad_weights = {
        "negative": [1.2, -0.2],
        "sum_0.9": [0.5, 0.4],
        "sum_1.1": [0.6, 0.5],
        "zeros": [0.0, 0.0],
        "shape_(3,)": [0.2, 0.3, 0.5],
        "shape_(2,1)": [[0.5], [0.5]],
        "nan": [np.nan, 0.5],
        "inf": [np.inf, 0.5],
        "complex": [0.5 + 0.1j, 0.5],
        "string": "abc",
        "scalar": 0.5,
    }
    for label, w in bad_weights.items():
        add(f"weights={label}", lambda ctx, w=w: ctx.gt.GaussianMixture(ok_means, 1.0, w))

    # Huge means / variances: refused, or accepted with valid values (issue 18 item 6)
    t = np.array([0.5, 2.0, 8.0])
    for scale, sign in itertools.product((1e155, 1e156, 1e200, 1e300), ("+-", "++")):
        means = np.array([[scale, 0.0], [(-scale if sign == "+-" else scale / 2), 0.0]])
        add(f"huge_means={scale:g}{sign}", lambda ctx, m=means: _edge_mixture(ctx, m, 1.0, t),
            accept=_valid_info())
    for var in (1e300, 1e-300):
        add(f"extreme_variance={var:g}", lambda ctx, v=var: _edge_mixture(ctx, ok_means, v, t),
            accept=_valid_info())
    return cases


def _process_cases() -> list[Case]:
    cases: list[Case] = []

    def add(name: str, fn: Callable[[Any], Any]) -> None:
        cases.append(Case("bad_input", "process", f"process/{name}", fn))

    for v in (0.0, -1.0, np.nan, np.inf, "a", None, 1j):
        add(f"VP(beta_min={v!r})", lambda ctx, v=v: ctx.gt.VP(beta_min=v))
    for v in (np.nan, np.inf, -1.0, 0.05, "a", None):
        add(f"VP(beta_max={v!r})", lambda ctx, v=v: ctx.gt.VP(beta_min=0.1, beta_max=v))
    for v in (0.0, -1.0, np.nan, np.inf, "0.5", None, True, 1j):
        add(f"EDM(sigma_data={v!r})", lambda ctx, v=v: ctx.gt.EDM(sigma_data=v))
    bad_betas = {"empty": [], "one": [0.5], "zero": [0.0, 0.1], "one_or_more": [1.0, 0.5], "nan": [np.nan, 0.1],
                 "2d": [[0.1, 0.2]], "string": "abc", "negative": [-0.1, 0.2]}
    for label, b in bad_betas.items():
        add(f"VP.from_betas({label})", lambda ctx, b=b: ctx.gt.VP.from_betas(b))
    bad_ab = {"increasing": [0.5, 0.6], "above_1": [1.2, 0.5], "zero": [0.5, 0.0], "2d": [[0.9, 0.5]],
              "nan": [np.nan, 0.5], "string": "abc", "one": [0.5]}
    for label, ab in bad_ab.items():
        add(f"VP.from_alphas_cumprod({label})", lambda ctx, ab=ab: ctx.gt.VP.from_alphas_cumprod(ab))
    for n in (0, 1, -5, 2.5):
        add(f"VP.ddpm_linear(n_steps={n!r})", lambda ctx, n=n: ctx.gt.VP.ddpm_linear(n_steps=n))
    for be in (2.0, -0.1):
        add(f"VP.ddpm_linear(beta_end={be!r})", lambda ctx, be=be: ctx.gt.VP.ddpm_linear(beta_end=be))
    for name in ("foo", "", None, 3):
        add(f"get_process({name!r})", lambda ctx, n=name: ctx.gt.get_process(n))
    add("get_process('edm', sigma_data=-1)", lambda ctx: ctx.gt.get_process("edm", sigma_data=-1.0))
    return cases


_ENTROPY_FNS = ("class_entropy", "mutual_information", "collision_probability", "bayes_error", "entropy_rate")


_DEFAULT = object()


def _call(ctx: Context, fn: str, mixture: Any = _DEFAULT, process: Any = _DEFAULT, t: Any = 1.0, **kw: Any):
    """gt.<fn>(mixture, process, t, **kw) with the two-Gaussian mixture and OU() unless given."""
    gt = ctx.gt
    mixture = ctx.two if mixture is _DEFAULT else mixture
    process = gt.OU() if process is _DEFAULT else process
    return getattr(gt, fn)(mixture, process, t, **kw)


def _engine_cases() -> list[Case]:
    cases: list[Case] = []

    def add(cat: str, name: str, fn: Callable[[Any], Any], **kw: Any) -> None:
        cases.append(Case("bad_input", cat, f"{cat}/{name}", fn, **kw))

    bad_t = {"negative": -0.1, "nan": np.nan, "inf": np.inf, "str_0.1": "0.1", "True": True, "2d": [[0.5, 1.0]],
             "empty": [], "complex": 1 + 1j, "array_with_nan": [0.5, np.nan], "none": None}
    for fn, (label, t) in itertools.product(_ENTROPY_FNS, bad_t.items()):
        add("times", f"{fn}(t={label})", lambda ctx, fn=fn, t=t: _call(ctx, fn, t=t))
    out_of_range = {"VP_t=1.5": ("vp", 1.5), "ddpm_t=1000": ("ddpm", 1000.0), "EDM_t=-1": ("edm", -1.0),
                    "Flow_t=1.5": ("flow", 1.5)}
    for fn, (label, (pname, t)) in itertools.product(_ENTROPY_FNS, out_of_range.items()):
        add("times", f"{fn}({label})", lambda ctx, fn=fn, p=pname, t=t: _call(ctx, fn, process=ctx.gt.get_process(p),
                                                                               t=t))
    for fn, m in itertools.product(_ENTROPY_FNS, ("foo", "", None, 3, ["auto"])):
        add("method", f"{fn}(method={m!r})", lambda ctx, fn=fn, m=m: _call(ctx, fn, method=m))
    for fn in _ENTROPY_FNS[:4]:  # a method that does not apply: quadrature needs K = 2
        add("method", f"{fn}(K=3, method='quadrature')",
            lambda ctx, fn=fn: _call(ctx, fn, mixture=ctx.k3, method="quadrature"))
    add("method", "entropy_rate(K=3, method='closed_form')",
        lambda ctx: _call(ctx, "entropy_rate", mixture=ctx.k3, method="closed_form"))
    mc = {fn: ("denoiser_gap" if fn == "entropy_rate" else "reduced") for fn in _ENTROPY_FNS}
    for fn, n in itertools.product(_ENTROPY_FNS, (0, 1, 2.5, True, -5, "100", np.nan)):
        add("n_samples", f"{fn}(n_samples={n!r})", lambda ctx, fn=fn, n=n: _call(ctx, fn, method=mc[fn], n_samples=n))
    for fn in ("class_entropy", "entropy_rate"):  # could run without end: a child process with a memory limit
        add("n_samples", f"{fn}(n_samples=2**40)",
            lambda ctx, fn=fn: _call(ctx, fn, method=mc[fn], n_samples=2**40), isolate=True)
    bad_keys = {"str": "abc", "float": 1.5, "list3": [1, 2, 3], "zeros2x2": np.zeros((2, 2)), "object": object()}
    for fn, (label, k) in itertools.product(_ENTROPY_FNS, bad_keys.items()):
        add("key", f"{fn}(key={label})", lambda ctx, fn=fn, k=k: _call(ctx, fn, method=mc[fn], n_samples=256, key=k))

    def part(groups):
        return lambda ctx: ctx.gt.Partition(groups)

    bad_parts = {"not_covering_K=2_of_3": part([[0], [1]]), "out_of_range_label_3": part([[0, 1], [2, 3]]),
                 "list_duplicate": lambda ctx: [[0, 1], [1, 2]], "list_not_covering": lambda ctx: [[0, 1]],
                 "string": lambda ctx: "abc", "assignment_array": lambda ctx: np.array([0, 0, 1])}
    for fn, (label, mk) in itertools.product(_ENTROPY_FNS, bad_parts.items()):
        add("partition_arg", f"{fn}(partition={label})",
            lambda ctx, fn=fn, mk=mk: _call(ctx, fn, mixture=ctx.k3, partition=mk(ctx), n_samples=256))
    for fn, prec in itertools.product(_ENTROPY_FNS, ("float16", "fp64", None, 64)):
        add("precision", f"{fn}(precision={prec!r})", lambda ctx, fn=fn, p=prec: _call(ctx, fn, precision=p))
    bad_mix = {"none": lambda ctx: None, "str": lambda ctx: "two", "array": lambda ctx: np.zeros((2, 3)),
               "dict": lambda ctx: {"means": [[1.0], [-1.0]]}}
    bad_proc = {"none": None, "str_foo": "foo", "class_OU": "CLASS", "int": 3}
    for fn, (label, mk) in itertools.product(_ENTROPY_FNS, bad_mix.items()):
        add("types", f"{fn}(mixture={label})", lambda ctx, fn=fn, mk=mk: _call(ctx, fn, mixture=mk(ctx)))
    for fn, (label, p) in itertools.product(_ENTROPY_FNS, bad_proc.items()):
        add("types", f"{fn}(process={label})",
            lambda ctx, fn=fn, p=p: _call(ctx, fn, process=ctx.gt.OU if p == "CLASS" else p))
    for w in ("sigma", "", None, "LOG_SIGMA", 3, "lambda"):
        add("rate", f"entropy_rate(wrt={w!r})", lambda ctx, w=w: _call(ctx, "entropy_rate", wrt=w))
    singular_t = {"OU_t=0": ("ou", 0.0), "VE_t=0": ("ve", 0.0), "EDM_t=0": ("edm", 0.0), "VP_t=0": ("vp", 0.0),
                  "OU_t=[0,1]": ("ou", [0.0, 1.0])}
    for fn, (label, (pname, t)) in itertools.product(_ENTROPY_FNS, singular_t.items()):
        add("singular", f"{fn}(points, {label})",
            lambda ctx, fn=fn, p=pname, t=t: _call(ctx, fn, mixture=ctx.points, process=ctx.gt.get_process(p), t=t,
                                                   n_samples=256))
    return cases


def _posterior_cases() -> list[Case]:
    cases: list[Case] = []

    def add(name: str, fn: Callable[[Any], Any], **kw: Any) -> None:
        cases.append(Case("bad_input", "posterior", f"posterior/{name}", fn, **kw))

    def den(ctx: Context, x: Any = None, **kw: Any):
        x = np.zeros((2, ctx.k3.d)) if x is None else x
        return np.asarray(ctx.gt.denoiser(ctx.k3, ctx.gt.OU(), 1.0, x, **kw))

    for label in (3, -1, 100, np.array([0, 5]), np.array([-1, 0]), np.array([0, 3]), 1.5, "a",
                  np.array([0.5, 1.0])):
        name = f"denoiser(label={label.tolist() if isinstance(label, np.ndarray) else label!r})"
        add(name, lambda ctx, lb=label: den(ctx, label=lb))
    add("denoiser(partition label 2 of 2 groups)",
        lambda ctx: den(ctx, label=2, partition=ctx.gt.Partition([[0, 1], [2]])))
    add("denoiser(partition label array [0, 2])",
        lambda ctx: den(ctx, label=np.array([0, 2]), partition=ctx.gt.Partition([[0, 1], [2]])))
    fns = ("denoiser", "class_posterior", "log_class_posterior", "score", "log_density", "eps_prediction",
           "component_log_likelihoods", "conditional_denoisers")
    bad_x = {"(2,d+1)": lambda d: np.zeros((2, d + 1)), "(d-1,)": lambda d: np.zeros(d - 1),
             "scalar": lambda d: 0.0, "str": lambda d: "abc"}
    for fn, (label, mk) in itertools.product(fns, bad_x.items()):
        add(f"{fn}(x={label})",
            lambda ctx, fn=fn, mk=mk: np.asarray(getattr(ctx.gt, fn)(ctx.k3, ctx.gt.OU(), 1.0, mk(ctx.k3.d))))
    return cases


def _partition_cases() -> list[Case]:
    cases: list[Case] = []
    groups = {"duplicate": ([[0, 1], [1, 2]], r"repeat|duplic"), "missing_label": ([[0], [2]], r"missing|1"),
              "negative": ([[0, -1]], r"negative|-1"), "empty": ([], None), "empty_group": ([[0], []], None),
              "string": ("abc", None), "float_label": ([[0.5, 1]], None), "nested_too_deep": ([[[0, 1]]], None),
              "none": (None, None)}
    for label, (g, mention) in groups.items():
        cases.append(Case("bad_input", "partition", f"partition/Partition({label})",
                          lambda ctx, g=g: ctx.gt.Partition(g), mention=mention))
    cases.append(Case("bad_input", "partition", "partition/Partition(names mismatch)",
                      lambda ctx: ctx.gt.Partition([[0], [1]], names=["a"])))
    for label, a in {"gap": [0, 2], "negative": [-1, 0], "2d": [[0, 1]], "empty": [], "float": [0.5, 1.0],
                     "string": "ab"}.items():
        cases.append(Case("bad_input", "partition", f"partition/from_assignment({label})",
                          lambda ctx, a=a: ctx.gt.Partition.from_assignment(a)))
    return cases


def _constructor_cases() -> list[Case]:
    cases: list[Case] = []

    def add(name: str, fn: Callable[[Any], Any]) -> None:
        cases.append(Case("bad_input", "constructors", f"constructors/{name}", fn))

    for d in (0, -3, 2.5, np.nan, "8", True):
        add(f"two_gaussians(d={d!r})", lambda ctx, d=d: ctx.gt.two_gaussians(d, 1.0))
    for mu in (np.nan, np.inf, "1"):
        add(f"two_gaussians(mu={mu!r})", lambda ctx, mu=mu: ctx.gt.two_gaussians(4, mu))
    for sig in (-1.0, np.nan, np.inf):
        add(f"two_gaussians(sigma={sig!r})", lambda ctx, sg=sig: ctx.gt.two_gaussians(4, 1.0, sg))
    for K, d, geo in ((0, 4, "orthogonal"), (1.5, 4, "orthogonal"), (5, 4, "orthogonal"), (5, 4, "simplex"),
                      (3, 4, "bogus")):
        add(f"k_classes(K={K!r}, d={d}, geometry={geo!r})",
            lambda ctx, K=K, d=d, g=geo: ctx.gt.k_classes(K, d, 1.0, geometry=g))
    add("k_classes(weights sum 2)", lambda ctx: ctx.gt.k_classes(2, 4, weights=[1.0, 1.0]))
    for K, d, kind in ((0, 4, "class_full"), (3, 0, "class_full"), (3, 4, "bogus")):
        add(f"random_mixture(K={K}, d={d}, cov_kind={kind!r})",
            lambda ctx, K=K, d=d, k=kind: ctx.gt.random_mixture(0, K, d, k))
    for args in ((0, 2, 8), (2, 2, 3), (2, 2, 8, np.nan), (2.5, 2, 8)):
        add(f"hierarchical{args!r}", lambda ctx, a=args: ctx.gt.hierarchical(*a))
    for label, pts in {"empty": np.zeros((0, 2)), "nan": [[np.nan, 0.0]], "1d": [1.0, 2.0], "string": "abc"}.items():
        add(f"empirical({label})", lambda ctx, p=pts: ctx.gt.empirical(p))
    for args in ((0,), (-1,), (2.5,), (8, 1.0, 0.5), (8, -1.0, 80.0), (8, 0.002, 80.0, -7.0), (8, np.nan, 80.0)):
        add(f"edm_sigma_grid{args!r}", lambda ctx, a=args: ctx.gt.edm_sigma_grid(*a))
    return cases


def _dynamics_control_cases() -> list[Case]:
    cases: list[Case] = []

    def sim(ctx: Context, **kw: Any):
        kw = {"n_samples": 16, "n_steps": 4, **kw}
        return ctx.gt.simulate(ctx.k3, **kw)

    bad_sim = {"sampler='bogus'": dict(sampler="bogus"), "n_samples=0": dict(n_samples=0),
               "n_samples=2.5": dict(n_samples=2.5), "n_steps=0": dict(n_steps=0), "guidance='bogus'": dict(
                   guidance="bogus"), "cfg w=nan": dict(guidance="cfg", w=np.nan, label=0),
               "cfg label=7": dict(guidance="cfg", w=2.0, label=7), "label='bogus'": dict(label="bogus"),
               "interval reversed": dict(guidance="interval", w=2.0, interval=(2.0, 1.0), label=0),
               "interval negative": dict(guidance="interval", w=2.0, interval=(-1.0, 1.0), label=0),
               "sigmas increasing": dict(sigmas=[0.5, 1.0, 2.0], n_steps=None),
               "sigmas with nan": dict(sigmas=[2.0, np.nan, 0.5], n_steps=None),
               "sigmas 2-D": dict(sigmas=[[2.0, 1.0]], n_steps=None)}
    for label, kw in bad_sim.items():
        cases.append(Case("bad_input", "dynamics_control", f"dynamics_control/simulate({label})",
                          lambda ctx, kw=kw: sim(ctx, **kw)))
    sig = np.geomspace(0.1, 10.0, 9)
    H = np.linspace(0.0, np.log(2.0), 9)
    bad_win = {"fraction=1.5": dict(fraction=1.5), "fraction=0": dict(fraction=0.0),
               "fraction=nan": dict(fraction=np.nan), "H length mismatch": dict(H=H[:-1]),
               "sigma negative": dict(sigma=-sig), "H with nan": dict(H=np.where(np.arange(9) == 4, np.nan, H)),
               "stderr negative": dict(stderr=-np.ones(9))}
    for label, kw in bad_win.items():
        def run(ctx: Context, kw: dict = kw) -> Any:
            kw = dict(kw)
            return ctx.gt.semantic_window(kw.pop("sigma", sig), kw.pop("H", H), **kw)
        cases.append(Case("bad_input", "dynamics_control", f"dynamics_control/semantic_window({label})", run))
    for label, src in {"string": "abc", "None": None, "tuple of 1": (sig,)}.items():
        cases.append(Case("bad_input", "dynamics_control",
                          f"dynamics_control/recommend_guidance_interval(source={label})",
                          lambda ctx, s=src: ctx.gt.recommend_guidance_interval(s)))
    for label, kw in {"n_steps=0": dict(n_steps=0), "blend=2": dict(blend=2.0),
                      "sigma_min>sigma_max": dict(sigma_min=10.0, sigma_max=1.0)}.items():
        def run(ctx: Context, kw: dict = kw) -> Any:
            kw = dict(kw)
            return ctx.gt.entropy_schedule((sig, H[::-1]), kw.pop("n_steps", 8), **kw)
        cases.append(Case("bad_input", "dynamics_control", f"dynamics_control/entropy_schedule({label})", run))
    return cases


def _phase_arg_cases() -> list[Case]:
    cases: list[Case] = []
    t = [0.5, 1.0, 2.0]

    def pd(ctx: Context, axes: Any = None, tt: Any = t, **kw: Any):
        kw.setdefault("progress", False)
        return ctx.gt.phase_diagram({"d": [10, 100]} if axes is None else axes, tt, **kw)

    bad_axes = {"unknown_name": {"bogus": [1.0, 2.0]}, "empty": {"d": []}, "nan": {"d": [10.0, np.nan]},
                "t_as_axis": {"t": [1.0, 2.0]}, "three_axes": {"d": [10], "mu": [1.0], "K": [2]},
                "not_a_dict": [10, 100], "d_negative": {"d": [-10, 100]}, "2d_values": {"d": [[10, 100]]},
                "string_values": {"d": "abc"}}
    for label, axes in bad_axes.items():
        cases.append(Case("bad_input", "phase_args", f"phase_args/axes={label}", lambda ctx, a=axes: pd(ctx, a)))
    others = {"t_decreasing": dict(tt=[2.0, 1.0, 0.5]), "t_two_points": dict(tt=[0.5, 1.0]),
              "t_negative": dict(tt=[-1.0, 0.5, 1.0]), "quantities_str": dict(quantities="H"),
              "quantities_unknown": dict(quantities=("H", "bogus")), "quantities_empty": dict(quantities=()),
              "method_bogus": dict(method="bogus"), "n_samples_1": dict(n_samples=1),
              "chunk_size_0": dict(chunk_size=0),
              "process_bogus": dict(process="bogus"), "model_bogus": dict(model="bogus"),
              "params_unknown": dict(params={"bogus": 1.0}), "params_mu_nan": dict(params={"mu": np.nan}),
              "cache_is_a_file": dict(cache="FILE"), "cache_below_a_file": dict(cache="FILE/sub")}
    for label, kw in others.items():
        def run(ctx: Context, kw: dict = kw) -> Any:
            kw = dict(kw)
            if isinstance(kw.get("cache"), str) and kw["cache"].startswith("FILE"):
                f = _write(ctx.fresh_dir("cachefile") / "taken", "x")
                kw["cache"] = str(f) + kw["cache"][4:]
            return pd(ctx, **kw)
        cases.append(Case("bad_input", "phase_args", f"phase_args/{label}", run))
    return cases


# ================================================================================================ bad inputs: CLI
_CURVE = ["--preset", "two", "--d", "8"]


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(data, bytes) else path.write_text)(data)
    return path


def _mixture_file(ctx: Context, name: str, content: Any) -> Path:
    """Write a mixture file: str → the text as is, dict with '.npz' name → np.savez."""
    path = ctx.fresh_dir("mixfile") / name
    if name.endswith(".npz") and isinstance(content, dict):
        np.savez(path, **content)
        return path
    return _write(path, content)


def _cli_cases() -> list[Case]:
    cases: list[Case] = []

    def add(cat: str, name: str, argv: Callable[[Any], list[str]], **kw: Any) -> None:
        cases.append(Case("bad_input", cat, f"{cat}/{name}", lambda ctx, a=argv: run_cli(a(ctx)), kind="cli", **kw))

    good_means = [[1.0, 0.0], [-1.0, 0.0]]
    files: dict[str, Callable[[Any], Path]] = {
        "missing": lambda ctx: ctx.tmp / "no_such_mixture.json",
        "directory.json": lambda ctx: ctx.fresh_dir("mixdir.json"),
        "directory.npz": lambda ctx: ctx.fresh_dir("mixdir.npz"),
        "malformed.json": lambda ctx: _mixture_file(ctx, "m.json", '{"means": [[1, 0], [-1, 0]'),
        "empty.json": lambda ctx: _mixture_file(ctx, "m.json", ""),
        "list.json": lambda ctx: _mixture_file(ctx, "m.json", json.dumps(good_means)),
        "number.json": lambda ctx: _mixture_file(ctx, "m.json", "3"),
        "string.json": lambda ctx: _mixture_file(ctx, "m.json", '"means"'),
        "no_means.json": lambda ctx: _mixture_file(ctx, "m.json", json.dumps({"cov": 1.0})),
        "misspelled_weigths.json": lambda ctx: _mixture_file(
            ctx, "m.json", json.dumps({"means": good_means, "weigths": [0.9, 0.1]})),
        "misspelled_covv.json": lambda ctx: _mixture_file(ctx, "m.json", json.dumps({"means": good_means,
                                                                                     "covv": 4.0})),
        "means_strings.json": lambda ctx: _mixture_file(ctx, "m.json", json.dumps({"means": [["a", "b"]]})),
        "weights_bad.json": lambda ctx: _mixture_file(ctx, "m.json", json.dumps({"means": good_means,
                                                                                 "weights": [0.9, 0.9]})),
        "cov_kind_bogus.json": lambda ctx: _mixture_file(ctx, "m.json", json.dumps(
            {"means": good_means, "cov": 1.0, "cov_kind": "bogus"})),
        "ambiguous_K=d_non_psd.json": lambda ctx: _mixture_file(ctx, "m.json", json.dumps(
            {"means": [[1.0, 0.0], [0.0, 1.0]], "cov": [[1.0, 2.0], [2.0, 1.0]]})),
        "complex_means.npz": lambda ctx: _mixture_file(ctx, "m.npz", {"means": np.array(good_means) * (1 + 1j)}),
        "complex_cov.npz": lambda ctx: _mixture_file(ctx, "m.npz", {"means": np.array(good_means),
                                                                    "cov": np.array(1.0 + 2j)}),
        "misspelled_weigths.npz": lambda ctx: _mixture_file(ctx, "m.npz", {"means": np.array(good_means),
                                                                           "weigths": np.array([0.9, 0.1])}),
        "object_array.npz": lambda ctx: _mixture_file(ctx, "m.npz", {"means": np.array([None, 1], dtype=object)}),
        "garbage.npz": lambda ctx: _mixture_file(ctx, "m.npz", b"\x00garbage" * 10),
        "wrong_suffix.txt": lambda ctx: _mixture_file(ctx, "m.txt", json.dumps({"means": good_means})),
    }
    for (label, mk), sub in itertools.product(files.items(), ("entropy", "rate")):
        add("mixture_file", f"{sub} --mixture {label}",
            lambda ctx, mk=mk, sub=sub: [sub, "--mixture", str(mk(ctx)), "--t", "1,2", "--n-samples", "256"])

    def existing_file(ctx: Context) -> Path:
        return _write(ctx.fresh_dir("outfile") / "taken", "x")

    outs = {"existing_file": lambda ctx: existing_file(ctx),
            "below_a_file": lambda ctx: existing_file(ctx) / "sub",
            "unwritable": lambda ctx: Path("/proc/gmmtheory_reliability_out")}
    subs = {"entropy": lambda: ["entropy", *_CURVE, "--t", "1,2"],
            "rate": lambda: ["rate", *_CURVE, "--t", "1,2"],
            "logtime": lambda: ["logtime", "--dims", "1:2:2"],
            "phase": lambda: ["phase", "--x", "d", "--x-values", "10,100", "--t", "0.5:2:4", "--no-progress"],
            "control_window": lambda: ["control", "window", "--preset", "two", "--d", "8"],
            "guidance": lambda: ["guidance", "--preset", "two", "--d", "8", "--w", "2", "--n-samples", "16",
                                 "--n-steps", "4", "--intervals", "all"]}
    for (olabel, mk), (slabel, argv) in itertools.product(outs.items(), subs.items()):
        if slabel in ("control_window", "guidance") and olabel != "existing_file":
            continue  # slow subcommands (≈ 15 s each when --out is checked only at the end): one variant each
        add("cli_out", f"{slabel} --out {olabel}", lambda ctx, mk=mk, argv=argv: [*argv(), "--out", str(mk(ctx))])

    for spec in ("abc", "1:2", "1:2:0", "10:1e6:0:log", "nan,10", "1:2:3:cubic", "", "-5,10"):
        add("cli_options", f"phase --x-values {spec!r}",
            lambda ctx, s=spec: ["phase", "--x", "d", f"--x-values={s}", "--t", "0.5:2:4", "--no-progress"])
    for label, mk in (("existing_file", existing_file), ("below_a_file", lambda ctx: existing_file(ctx) / "sub")):
        add("cli_options", f"phase --cache {label}",
            lambda ctx, mk=mk: ["phase", "--x", "d", "--x-values", "10,100", "--t", "0.5:2:4", "--no-progress",
                                "--cache", str(mk(ctx))])
    for spec in ("1:2:0", "abc", "1:2", "1:2:-1", "1:2:2.5", "nan:2:3"):
        add("cli_options", f"logtime --dims {spec!r}", lambda ctx, s=spec: ["logtime", f"--dims={s}"])
    for (sub, spec) in itertools.product(("entropy", "rate"), ("abc", "1:2", "1:2:0", "nan", "inf", "-1", "",
                                                               "1,,2", "1e400", "1:2:-3", "0.5:2:3:cubic")):
        add("cli_options", f"{sub} --t {spec!r}", lambda ctx, sub=sub, s=spec: [sub, *_CURVE, f"--t={s}"])
    for sub, proc in itertools.product(("entropy", "rate", "landmarks", "phase"), ("foo", "", "OU()")):
        if sub == "phase":
            def argv(ctx, p=proc):
                return ["phase", "--x", "d", "--x-values", "10,100", "--process", p, "--no-progress"]
        else:
            def argv(ctx, sub=sub, p=proc):
                return [sub, *_CURVE, "--process", p] + (["--t", "1,2"] if sub != "landmarks" else [])
        add("cli_options", f"{sub} --process {proc!r}", argv)
    numeric = {"--d 0": ["--d", "0"], "--d -5": ["--d", "-5"], "--K 0 kclasses": ["--preset", "kclasses", "--K", "0"],
               "--mu nan": ["--mu", "nan"], "--sigma -1": ["--sigma", "-1"], "--sigma inf": ["--sigma", "inf"],
               "--n-samples 0": ["--n-samples", "0", "--method", "reduced"],
               "--n-samples 1": ["--n-samples", "1", "--method", "reduced"],
               "--method quadrature K=3": ["--preset", "kclasses", "--K", "3", "--method", "quadrature"],
               "--method bogus": ["--method", "bogus"]}
    for (label, extra), sub in itertools.product(numeric.items(), ("entropy", "rate")):
        add("cli_options", f"{sub} {label}", lambda ctx, sub=sub, e=extra: [sub, "--d", "8", *e, "--t", "1,2"])
    for wrt in ("sigma", ""):
        add("cli_options", f"rate --wrt {wrt!r}", lambda ctx, w=wrt: ["rate", *_CURVE, "--t", "1,2", "--wrt", w])
    cases.append(Case("bad_input", "cli_options", "cli_options/entropy --n-samples 2**40",
                      lambda ctx: run_cli(["entropy", *_CURVE, "--t", "1,2", "--method", "reduced",
                                           "--n-samples", str(2**40)]), kind="cli", isolate=True))
    return cases


# ================================================================================================ faults
_PD_AXES = {"d": [10, 100, 1000]}
_PD_T = np.linspace(0.5, 4.0, 6)
_PD_KW = dict(chunk_size=1, progress=False)


def _pd_values(pd: Any) -> dict[str, np.ndarray]:
    return {**{f"coord:{k}": v for k, v in pd.coords.items()},
            **{f"value:{k}": v for k, v in pd.values.items()}, **{f"stderr:{k}": v for k, v in pd.stderr.items()},
            **{f"landmark:{k}": v for k, v in pd.landmarks.items()}}


def _pd(ctx: Context, cache: Path | None = None, t: np.ndarray = _PD_T, process: Any = "ou",
        axes: dict | None = None) -> dict[str, np.ndarray]:
    pd = ctx.gt.phase_diagram(axes or _PD_AXES, t, process=process, cache=cache, **_PD_KW)
    return _pd_values(pd)


def _ref(ctx: Context, t: np.ndarray = _PD_T, process: Any = "ou", tag: str = "ou") -> dict[str, np.ndarray]:
    return ctx.memo(f"pdref:{tag}:{t.tolist()}", lambda: _pd(ctx, None, t, process))


def _home(cache: Path) -> Path:
    """The folder of a cache that holds the sweep's files: the cache itself, or the sub-folder (one per sweep)
    that holds ``meta.json`` or part files, the most recently written one if several."""
    found = [p.parent for p in cache.rglob("meta.json")] + [p.parent for p in cache.rglob("part_*")]
    if not found or cache in found:
        return cache
    return max(set(found), key=lambda d: d.stat().st_mtime_ns)


def _parts(cache: Path) -> list[Path]:
    home = _home(cache)
    return sorted(p for p in home.iterdir() if p.name.startswith("part_"))


def _meta(cache: Path) -> Path:
    return _home(cache) / "meta.json"


def _rewrite_npz(path: Path, edit: Callable[[dict], dict]) -> None:
    """Load an .npz, edit its arrays, write it back under the same name (other entries kept as they were)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: np.array(data[k]) for k in data.files}
    arrays = edit(arrays)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _quantity_key(arrays: dict, prefer: str = "H") -> str:
    floats = [k for k, v in arrays.items() if np.issubdtype(np.asarray(v).dtype, np.floating) and np.size(v) > 1]
    for k in floats:
        if k.split(":")[-1] == prefer or k.endswith(prefer):
            return k
    return floats[0]


def _nan_part(arrays: dict) -> dict:
    k = _quantity_key(arrays)
    v = np.array(arrays[k], dtype=float)
    v.flat[0] = np.nan
    arrays[k] = v
    return arrays


def _drop_quantity(arrays: dict) -> dict:
    k = _quantity_key(arrays, "phi")
    q = k.split(":")[-1]
    return {kk: v for kk, v in arrays.items() if kk.split(":")[-1] != q}


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _swap(a: Path, b: Path) -> None:
    tmp = a.with_name(a.name + ".swap")
    os.replace(a, tmp)
    os.replace(b, a)
    os.replace(tmp, b)


def _cache_fault(tamper: Callable[[Path], None], sweep: Callable[[Any, Path | None], dict] | None = None,
                 folder: str = "cache") -> Callable[[Any], Any]:
    """Populate a cache with ``sweep`` (default: the two-Gaussian sweep), tamper with it, rerun the same sweep in it:
    the values returned (to compare)."""
    sweep = _pd if sweep is None else sweep

    def run(ctx: Context) -> dict:
        cache = ctx.fresh_dir(folder)
        ctx._memo["last_cache"] = cache
        sweep(ctx, cache)
        tamper(cache)
        return sweep(ctx, cache)

    return run


def _cache_names(ctx: Context) -> list[str]:
    c = ctx._memo.get("last_cache")
    return [] if c is None else [str(c), c.name, "part_", "meta.json"]


def _fault_cases() -> list[Case]:
    cases: list[Case] = []

    def add(cat: str, name: str, run: Callable[[Any], Any], reference: Callable[[Any], Any] | None = None,
            names: Callable[[Any], list[str]] = _cache_names, **kw: Any) -> None:
        cases.append(Case("fault", cat, f"{cat}/{name}", run, kind=kw.pop("kind", "fault"),
                          reference=reference or (lambda ctx: _ref(ctx)), names=names, **kw))

    part_faults: dict[str, Callable[[Path], None]] = {
        "truncated": lambda p: _truncate(p, 0.5),
        "truncated_to_10_bytes": lambda p: _truncate(p, 10 / max(p.stat().st_size, 10)),
        "emptied": lambda p: p.write_bytes(b""),
        "garbage": lambda p: p.write_bytes(os.urandom(max(p.stat().st_size, 64))),
        "pickle_header": lambda p: p.write_bytes(b"\x80\x04\x95garbage"),
        "nan_value": lambda p: _rewrite_npz(p, _nan_part),
        "missing_quantity": lambda p: _rewrite_npz(p, _drop_quantity),
        "directory_in_place": lambda p: (p.unlink(), p.mkdir()),
    }
    for (label, fault), which in itertools.product(part_faults.items(), ("first", "last")):
        idx = 0 if which == "first" else -1
        add("phase_cache_part", f"{which} part {label}",
            _cache_fault(lambda c, f=fault, i=idx: f(_parts(c)[i])))
    add("phase_cache_part", "parts 0 and 1 swapped", _cache_fault(lambda c: _swap(_parts(c)[0], _parts(c)[1])))
    add("phase_cache_part", "part 0 copied over part 2",
        _cache_fault(lambda c: shutil.copyfile(_parts(c)[0], _parts(c)[2])))
    add("phase_cache_part", "part 2 deleted (resume)", _cache_fault(lambda c: _parts(c)[2].unlink()))
    add("phase_cache_part", "all parts deleted (resume)",
        _cache_fault(lambda c: [p.unlink() for p in _parts(c)]))
    add("phase_cache_part", "leftover temp file", _cache_fault(
        lambda c: _write(_home(c) / f".part_000000.{os.getpid()}.tmp.npz", b"partial")))

    # the cell loop (K classes, reduced Monte Carlo, one part per cell) shares the cache code path for parts
    cell = dict(axes={"K": [2, 3, 4]}, t=np.linspace(0.5, 4.0, 4))

    def cell_pd(ctx: Context, cache: Path | None) -> dict:
        pd = ctx.gt.phase_diagram(cell["axes"], cell["t"], params={"d": 8}, quantities=("H",), n_samples=512,
                                  cache=cache, progress=False)
        return _pd_values(pd)

    def cell_ref(ctx):
        return ctx.memo("cell_ref", lambda: cell_pd(ctx, None))

    for label, fault in (("part 1 truncated", lambda c: _truncate(_parts(c)[1], 0.5)),
                         ("parts 0 and 2 swapped", lambda c: _swap(_parts(c)[0], _parts(c)[2])),
                         ("part 1 NaN value", lambda c: _rewrite_npz(_parts(c)[1], _nan_part)),
                         ("meta.json emptied", lambda c: _meta(c).write_text(""))):
        add("phase_cache_cells", label, _cache_fault(fault, cell_pd, "cache_cells"), reference=cell_ref)

    meta_faults: dict[str, Callable[[Path], None]] = {
        "truncated": lambda c: _truncate(_meta(c), 0.5),
        "emptied": lambda c: _meta(c).write_text(""),
        "garbage": lambda c: _meta(c).write_bytes(b"\xff\xfe not json"),
        "json_list": lambda c: _meta(c).write_text("[1, 2]"),
        "deleted": lambda c: _meta(c).unlink(),
        "fingerprint_removed": lambda c: _meta(c).write_text(json.dumps(
            {k: v for k, v in json.loads(_meta(c).read_text()).items() if k != "fingerprint"})),
    }
    for label, fault in meta_faults.items():
        add("phase_cache_meta", f"meta.json {label}", _cache_fault(fault))

    def foreign_meta(ctx: Context) -> dict:  # meta.json of another sweep (other times) over this sweep's parts
        other = ctx.fresh_dir("cache_other")
        _pd(ctx, other, t=_PD_T * 1.5)
        cache = ctx.fresh_dir("cache")
        ctx._memo["last_cache"] = cache
        _pd(ctx, cache)
        shutil.copyfile(_meta(other), _meta(cache))
        return _pd(ctx, cache)

    add("phase_cache_meta", "meta.json from a different sweep", foreign_meta)

    def stale_parts(ctx: Context) -> dict:  # meta.json deleted, then a different sweep runs in the folder
        cache = ctx.fresh_dir("cache")
        ctx._memo["last_cache"] = cache
        _pd(ctx, cache)
        _meta(cache).unlink()
        return _pd(ctx, cache, t=_PD_T * 1.5)

    add("phase_cache_meta", "meta.json deleted, then another sweep (other t)", stale_parts,
        reference=lambda ctx: _ref(ctx, _PD_T * 1.5))

    def shared(first: Callable[[Any], Any], second: Callable[[Any], Any], t: np.ndarray) -> Callable[[Any], Any]:
        def run(ctx: Context) -> dict:
            cache = ctx.fresh_dir("cache")
            ctx._memo["last_cache"] = cache
            _pd(ctx, cache, t=t, process=first(ctx))
            return _pd(ctx, cache, t=t, process=second(ctx))

        return run

    t_steps = np.linspace(50.0, 900.0, 6)
    t_sigma = np.geomspace(0.05, 50.0, 6)

    def betas(end):
        return lambda ctx: ctx.gt.VP.from_betas(np.linspace(1e-4, end, 1000))

    def edm(s):
        return lambda ctx: ctx.gt.EDM(sigma_data=s)

    combos = {
        "VP.from_betas beta_end 0.02 then 0.05": (betas(0.02), betas(0.05), t_steps, "b05"),
        "VP.from_betas beta_end 0.05 then 0.02": (betas(0.05), betas(0.02), t_steps, "b02"),
        "EDM sigma_data 0.5 then 0.5000004": (edm(0.5), edm(0.5000004), t_sigma, "e5000004"),
        "EDM sigma_data 0.5000004 then 0.5": (edm(0.5000004), edm(0.5), t_sigma, "e5"),
        "VP(0.1, 20) then VP(0.1, 20.0000001)": (lambda ctx: ctx.gt.VP(0.1, 20.0),
                                                 lambda ctx: ctx.gt.VP(0.1, 20.0000001), np.linspace(0.05, 0.9, 6),
                                                 "vp"),
    }
    for label, (first, second, t, tag) in combos.items():
        add("phase_cache_process", label, shared(first, second, t),
            reference=lambda ctx, s=second, t=t, tag=tag: _ref(ctx, t, s(ctx), tag))

    # PhaseDiagram.save → tamper → PhaseDiagram.load
    def saved(ctx: Context) -> Path:
        pd = ctx.memo("pd_obj", lambda: ctx.gt.phase_diagram(_PD_AXES, _PD_T, process="ou", **_PD_KW))
        path = ctx.fresh_dir("saved") / "phase.npz"
        ctx._memo["last_saved"] = path
        return pd.save(path)

    def first_key(arrays: dict, prefix: str) -> str:
        return sorted(k for k in arrays if k.startswith(prefix))[0]

    def drop(prefix: str) -> Callable[[dict], dict]:
        return lambda a: {k: v for k, v in a.items() if k != first_key(a, prefix)}

    def reshape(prefix: str) -> Callable[[dict], dict]:
        def edit(a: dict) -> dict:
            k = first_key(a, prefix)
            a[k] = np.asarray(a[k]).ravel()[:-1]
            return a
        return edit

    def nan_at(prefix: str, key: str | None = None) -> Callable[[dict], dict]:
        def edit(a: dict) -> dict:
            k = f"{prefix}{key}" if key and f"{prefix}{key}" in a else first_key(a, prefix)
            v = np.array(a[k], dtype=float)
            v.flat[0] = np.nan
            a[k] = v
            return a
        return edit

    def meta_edit(fn: Callable[[dict], dict]) -> Callable[[dict], dict]:
        def edit(a: dict) -> dict:
            a["meta"] = np.array(json.dumps(fn(json.loads(str(a["meta"])))))
            return a
        return edit

    def unsorted_t(a: dict) -> dict:
        k = "coord:t" if "coord:t" in a else first_key(a, "coord:")
        a[k] = np.asarray(a[k])[::-1].copy()
        return a

    save_faults: dict[str, Callable[[Path], None]] = {
        "truncated": lambda p: _truncate(p, 0.5),
        "emptied": lambda p: p.write_bytes(b""),
        "garbage": lambda p: p.write_bytes(os.urandom(4096)),
        "missing meta": lambda p: _rewrite_npz(p, lambda a: {k: v for k, v in a.items() if k != "meta"}),
        "meta not JSON": lambda p: _rewrite_npz(p, lambda a: {**a, "meta": np.array("{not json")}),
        "meta without dims": lambda p: _rewrite_npz(p, meta_edit(lambda m: {k: v for k, v in m.items()
                                                                           if k != "dims"})),
        "missing coordinate": lambda p: _rewrite_npz(p, drop("coord:")),
        "missing value": lambda p: _rewrite_npz(p, drop("value:")),
        "value wrong shape": lambda p: _rewrite_npz(p, reshape("value:")),
        "coordinate wrong shape": lambda p: _rewrite_npz(p, reshape("coord:")),
        "NaN coordinate t": lambda p: _rewrite_npz(p, nan_at("coord:", "t")),
        "NaN coordinate d": lambda p: _rewrite_npz(p, nan_at("coord:", "d")),
        "t reversed": lambda p: _rewrite_npz(p, unsorted_t),
        "unknown entry prefix": lambda p: _rewrite_npz(p, lambda a: {**a, "bogus:x": np.zeros(2)}),
    }

    def load_fault(tamper: Callable[[Path], None]) -> Callable[[Any], Any]:
        def run(ctx: Context) -> dict:
            path = saved(ctx)
            tamper(path)
            return _pd_values(ctx.gt.PhaseDiagram.load(path))
        return run

    def saved_names(ctx: Context) -> list[str]:
        p = ctx._memo.get("last_saved")
        return [] if p is None else [str(p), p.name]

    for label, fault in save_faults.items():
        # the original values: a tampered file may be refused, or loaded only if nothing changed
        add("phase_file", f"PhaseDiagram.load: {label}", load_fault(fault),
            reference=lambda ctx: _pd_values(ctx.memo("pd_obj", lambda: None)), names=saved_names)

    # mixture files for the CLI: a truncated .npz must give exit 2 and name the file
    def npz_mixture(ctx: Context) -> Path:
        p = ctx.fresh_dir("mixnpz") / "mix.npz"
        np.savez(p, means=np.array([[1.0, 0.0], [-1.0, 0.0]]), cov=np.array(1.0), weights=np.array([0.5, 0.5]))
        ctx._memo["last_mixture"] = p
        return p

    def mixture_names(ctx: Context) -> list[str]:
        p = ctx._memo.get("last_mixture")
        return [] if p is None else [str(p), p.name]

    for keep in (0.5, 0.9, 0.1):
        def run(ctx: Context, keep: float = keep) -> CliResult:
            p = npz_mixture(ctx)
            _truncate(p, keep)
            return run_cli(["entropy", "--mixture", str(p), "--t", "1,2"])
        cases.append(Case("fault", "mixture_file", f"mixture_file/.npz truncated to {keep:.0%}", run, kind="cli",
                          names=mixture_names))

    def npz_entry_corrupt(ctx: Context) -> CliResult:  # a valid zip whose 'means' member is damaged
        p = npz_mixture(ctx)
        raw = bytearray(p.read_bytes())
        with zipfile.ZipFile(p) as z:
            info = z.getinfo("means.npy")
        start = info.header_offset + 30 + len(info.filename) + 10
        raw[start: start + 40] = b"\xff" * 40
        p.write_bytes(bytes(raw))
        return run_cli(["entropy", "--mixture", str(p), "--t", "1,2"])

    cases.append(Case("fault", "mixture_file", "mixture_file/.npz member bytes corrupted", npz_entry_corrupt,
                      kind="cli", names=mixture_names))
    return cases


# ================================================================================================ campaign
def enumerate_cases() -> list[Case]:
    """Every case of the campaign, in a fixed order (names are unique)."""
    cases = (_mixture_cases() + _process_cases() + _partition_cases() + _engine_cases() + _posterior_cases()
             + _constructor_cases() + _dynamics_control_cases() + _phase_arg_cases() + _fault_cases() + _cli_cases())
    names = [c.name for c in cases]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise RuntimeError(f"duplicate case names: {dup[:5]}")
    return cases


def warm_up(ctx: Context) -> None:
    """Import gmmtheory and build the shared fixtures before any case, so that no case is timed with them."""
    for name in ("two", "k3", "points"):
        try:
            getattr(ctx, name)
        except Exception:  # noqa: BLE001 - a fixture that fails to build shows up in the cases that use it
            pass


def run_campaign(cases: list[Case], tmp: Path | None = None, verbose: bool = False) -> list[Outcome]:
    """Run ``cases`` in order (one shared context) and classify each."""
    own = tmp is None
    tmp = Path(tempfile.mkdtemp(prefix="gmm_reliability_")) if own else tmp
    ctx = Context(tmp)
    warm_up(ctx)
    out = []
    try:
        for case in cases:
            res = run_case(case, ctx)
            out.append(res)
            if verbose:
                mark = "ok " if res.ok else "BAD"
                print(f"{mark} {res.seconds:6.2f}s  {res.name}: {res.outcome} {res.reason[:100]}", file=sys.stderr)
    finally:
        if own:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def summarize(outcomes: list[Outcome]) -> dict:
    fams: dict[str, dict] = {}
    for o in outcomes:
        f = fams.setdefault(o.family, {"tried": 0, "ok": 0, "categories": {}, "failures": {}})
        c = f["categories"].setdefault(o.category, {"tried": 0, "ok": 0})
        f["tried"] += 1
        c["tried"] += 1
        if o.ok:
            f["ok"] += 1
            c["ok"] += 1
        else:
            f["failures"][o.outcome] = f["failures"].get(o.outcome, 0) + 1
    return fams


def format_table(outcomes: list[Outcome]) -> str:
    fams = summarize(outcomes)
    word = {"bad_input": ("bad inputs", "handled"), "fault": ("faults", "survived")}
    lines = ["| family | category | tried | handled / survived | not |", "|---|---|---|---|---|"]
    for fam, f in fams.items():
        for cat, c in f["categories"].items():
            lines.append(f"| {word[fam][0]} | {cat} | {c['tried']} | {c['ok']} | {c['tried'] - c['ok']} |")
        lines.append(f"| **{word[fam][0]}** | **total** | **{f['tried']}** | **{f['ok']}** | "
                     f"**{f['tried'] - f['ok']}** |")
    summary = []
    for fam, f in fams.items():
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(f["failures"].items(), key=lambda kv: -kv[1]))
        summary.append(f"{word[fam][0]}: {f['tried']} tried, {f['ok']} {word[fam][1]}"
                       + (f" (not: {kinds})" if kinds else ""))
    return "\n".join(lines) + "\n\n" + "\n".join(summary)


def compare_table(before: dict, after: dict) -> str:
    """Markdown table of two ``--json`` results side by side: tried and handled/survived per category."""
    word = {"bad_input": "bad inputs", "fault": "faults"}
    lines = ["| family | category | tried | before: handled / survived | after: handled / survived |",
             "|---|---|---|---|---|"]
    for fam in ("bad_input", "fault"):
        fb, fa = before["summary"].get(fam, {}), after["summary"].get(fam, {})
        cats = list(dict.fromkeys([*fa.get("categories", {}), *fb.get("categories", {})]))
        for cat in cats:
            cb, ca = fb.get("categories", {}).get(cat, {}), fa.get("categories", {}).get(cat, {})
            tried = ca.get("tried", cb.get("tried", 0))
            lines.append(f"| {word[fam]} | {cat} | {tried} | {cb.get('ok', '–')} | {ca.get('ok', '–')} |")
        lines.append(f"| **{word[fam]}** | **total** | **{fa.get('tried', fb.get('tried', 0))}** | "
                     f"**{fb.get('ok', '–')}** | **{fa.get('ok', '–')}** |")
    return "\n".join(lines)


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()}-core {model}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.reliability", description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, help="write every case (family, category, name, outcome, reason) here")
    p.add_argument("--only", help="run only the cases whose name contains this substring")
    p.add_argument("--verbose", action="store_true", help="one line per case on stderr")
    p.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE.json", "AFTER.json"),
                   help="print a before/after Markdown table of two --json results and exit")
    p.add_argument("--run-case", help=argparse.SUPPRESS)  # internal: one isolated case in a child process
    args = p.parse_args(argv)
    if args.compare is not None:
        print(compare_table(*(json.loads(f.read_text()) for f in args.compare)))
        return 0
    cases = enumerate_cases()
    if args.run_case is not None:  # the child sets its own memory limit before importing jax
        resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))
        case = next(c for c in cases if c.name == args.run_case)
        case.isolate = False
        with tempfile.TemporaryDirectory(prefix="gmm_reliability_child_") as tmp:
            ctx = Context(Path(tmp))
            warm_up(ctx)
            res = run_case(case, ctx)
        print(json.dumps({"outcome": res.outcome, "reason": res.reason, "warnings": res.warnings,
                          "seconds": res.seconds}))
        return 0
    if args.only:
        cases = [c for c in cases if args.only in c.name]
    import gmmtheory

    start = time.perf_counter()
    outcomes = run_campaign(cases, verbose=args.verbose)
    elapsed = time.perf_counter() - start
    print(f"# gmmtheory {getattr(gmmtheory, '__version__', '?')} from {Path(gmmtheory.__file__).parent}")
    print(f"# {machine()}, {elapsed:.0f} s, {time.strftime('%Y-%m-%d')}\n")
    print(format_table(outcomes))
    bad = [o for o in outcomes if not o.ok]
    if bad:
        print("\nnot handled / not survived:")
        for o in bad:
            print(f"  [{o.outcome}] {o.name}: {o.reason}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"gmmtheory": str(Path(gmmtheory.__file__).parent), "machine": machine(), "seconds": elapsed,
                   "date": time.strftime("%Y-%m-%d %H:%M:%S"), "summary": summarize(outcomes),
                   "cases": [o.__dict__ for o in outcomes]}
        args.json.write_text(json.dumps(payload, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
