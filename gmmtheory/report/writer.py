"""The report writer: every section in order, into ``out_dir/report.md`` (with the sections' figures beside it).

A reader can always tell a finished report from an unfinished one: the output folder is checked (a directory, or
creatable, and writable) before anything is computed; at the start ``report.md`` is replaced by a marker whose title
ends in "INCOMPLETE" (run in progress, or killed), which is rewritten after every section and, when a section raises
(Ctrl-C included), says where the run was interrupted; only a finished run replaces it with the report. Every write
of ``report.md`` is atomic (temporary file in the same folder, fsync, rename). Each section is
``section_<name>(out, size) -> str`` with ``size = report_size(quick)``.
"""

from __future__ import annotations

import datetime
import platform
import time
from collections.abc import Callable
from pathlib import Path

import jax

from gmmtheory._sizes import report_size
from gmmtheory._version import __version__
from gmmtheory.atomic import atomic_write_text, ensure_writable_dir
from gmmtheory.progress import progress
from gmmtheory.report.bridge import section_bridge
from gmmtheory.report.control import section_control
from gmmtheory.report.curves import (
    section_covariance_only,
    section_entropy_rate,
    section_hierarchy,
    section_logtime,
    section_two_gaussians,
)
from gmmtheory.report.guidance import section_guidance
from gmmtheory.report.guided_law import section_guided_law
from gmmtheory.report.phase import section_phase
from gmmtheory.report.real_model import section_real_model

Section = Callable[[Path, str], str]

SECTIONS: list[Section] = [section_two_gaussians, section_entropy_rate, section_logtime, section_hierarchy,
                           section_covariance_only, section_phase,
                           section_guidance, section_guided_law, section_control, section_bridge, section_real_model]

INCOMPLETE_TITLE = "# gmmtheory report — INCOMPLETE"



def check_out_dir(out: Path) -> None:
    """Refuse an output folder that cannot hold the report, before any section computes: ``out`` must be a directory
    (created when missing) in which a file can be written. ValueError names ``out_dir`` (the CLI's ``--out``)."""
    ensure_writable_dir(out, "out_dir (--out)")


def _incomplete(started: str, quick: bool, body: list[str], state: str) -> str:
    """The marker ``report.md`` of an unfinished run: what happened, then the sections finished so far."""
    lines = [INCOMPLETE_TITLE, "",
             f"**This report is incomplete.** Run started {started}" + (" (quick mode)" if quick else "")
             + f"; {state}",
             "",
             f"Sections finished: {len(body)} of {len(SECTIONS)} (below). Figures in this folder from sections not "
             "listed here may belong to an earlier run; this file is replaced by the full report when a run finishes.",
             "", ""]
    return "\n".join(lines) + "\n".join(body)


def write_report(out_dir: Path | str = "out/report", quick: bool = False, real_model: dict | None = None) -> Path:
    """Compute every section and write ``out_dir/report.md``; returns its path.

    ``real_model``: the ``load_checkpoint`` keyword arguments (with ``checkout``, ``weights`` and optionally
    ``uncond``) of a class-conditional checkpoint for ``section_real_model``; None (default): that section is one
    line saying how to add it.

    ``out_dir`` is validated first (``check_out_dir``); while the sections run, ``report.md`` is an "INCOMPLETE"
    marker with the sections finished so far (and, after an exception or Ctrl-C, the section that was interrupted);
    the finished report replaces it atomically at the end. ``quick``: every section at ``report_size(quick)``.
    """
    out = Path(out_dir)
    check_out_dir(out)
    size = report_size(quick)
    path = out / "report.md"
    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    start = time.perf_counter()
    body: list[str] = []
    running = "still running, or stopped before it could record why (e.g. killed)."
    atomic_write_text(path, _incomplete(started, quick, body, running))
    current = None
    try:
        for section in progress(SECTIONS, "report sections"):
            current = getattr(section, "__name__", repr(section))
            if section is section_real_model and real_model is not None:
                body.append(section_real_model(out, size, model=real_model))
            else:
                body.append(section(out, size))
            atomic_write_text(path, _incomplete(started, quick, body, running))
    except BaseException as err:
        why = "interrupted (Ctrl-C)" if isinstance(err, KeyboardInterrupt) else f"failed: {type(err).__name__}: {err}"
        atomic_write_text(path, _incomplete(started, quick, body, f"{why} in `{current}` after "
                                            f"{time.perf_counter() - start:.1f} s."))
        raise
    header = [
        "# gmmtheory report",
        "",
        f"gmmtheory {__version__}, jax {jax.__version__}, Python {platform.python_version()}, "
        f"{platform.machine()}; computed in {time.perf_counter() - start:.1f} s"
        + (" (quick mode)" if quick else "")
        + f", started {started}.",
        "",
    ]
    atomic_write_text(path, "\n".join(header) + "\n".join(body))
    return path
