"""The report: every figure, every sentence, every section of ``report.md``, the writer and the shipped style.

``write_report(out_dir, quick=False)`` (``report/writer.py``) writes ``report.md`` and its figures (PNG and PDF);
each section is ``section_<name>(out, size) -> str`` in ``report/<topic>.py`` (curves, phase, guidance, control,
bridge); ``report/style.py`` holds the figure style and the Markdown table.
"""

from __future__ import annotations

from gmmtheory.report.writer import write_report

__all__ = ["write_report"]
