"""``write_report``: a reader can always tell a finished report from an interrupted one, and ``--out`` is checked
before anything is computed. The sections are replaced by tiny stand-ins (the real ones take minutes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gmmtheory.cli import main
from gmmtheory.report import writer as report


def _files(out: Path) -> set[str]:
    return {p.name for p in out.iterdir()}


def test_interrupted_report_replaces_the_old_one_with_an_incomplete_marker(tmp_path, monkeypatch):
    out = tmp_path / "rep"
    out.mkdir()
    (out / "report.md").write_text("# gmmtheory report\n\nOLD FINISHED REPORT\n")
    seen = {}

    def section_first(o: Path, size: str) -> str:
        (o / "first.png").write_bytes(b"png")
        seen["during"] = (o / "report.md").read_text()  # what a reader sees while the run is going on
        return "## First section\n\ndone\n"

    def section_second(o: Path, size: str) -> str:
        seen["after_first"] = (o / "report.md").read_text()
        raise KeyboardInterrupt

    def section_never(o: Path, size: str) -> str:
        raise AssertionError("a section after the interruption ran")

    monkeypatch.setattr(report, "SECTIONS", [section_first, section_second, section_never])
    with pytest.raises(KeyboardInterrupt):
        report.write_report(out, quick=True)
    # while running: the old finished report is gone, replaced by a marker that says the run is not finished
    assert "OLD FINISHED REPORT" not in seen["during"]
    assert seen["during"].startswith("# gmmtheory report — INCOMPLETE") and "still running" in seen["during"]
    assert "## First section" in seen["after_first"] and "1 of 3" in seen["after_first"]
    # after the interruption: marked incomplete, with where it stopped and the finished sections
    text = (out / "report.md").read_text()
    assert text.startswith("# gmmtheory report — INCOMPLETE")
    assert "OLD FINISHED REPORT" not in text
    assert "interrupted (Ctrl-C) in `section_second`" in text
    assert "## First section" in text and "1 of 3" in text
    assert _files(out) == {"report.md", "first.png"}  # no temporary files left behind


def test_failed_section_is_recorded_and_a_finished_run_replaces_the_marker(tmp_path, monkeypatch):
    out = tmp_path / "rep"

    def section_boom(o: Path, size: str) -> str:
        raise RuntimeError("disk quota")

    monkeypatch.setattr(report, "SECTIONS", [section_boom])
    with pytest.raises(RuntimeError):
        report.write_report(out)
    text = (out / "report.md").read_text()
    assert text.startswith("# gmmtheory report — INCOMPLETE")
    assert "failed: RuntimeError: disk quota in `section_boom`" in text

    monkeypatch.setattr(report, "SECTIONS", [lambda o, size: "## Only section\n"])
    path = report.write_report(out)
    text = path.read_text()
    assert path == out / "report.md"
    assert text.startswith("# gmmtheory report\n") and "INCOMPLETE" not in text and "## Only section" in text
    assert _files(out) == {"report.md"}


def test_out_is_validated_before_any_section_runs(tmp_path, monkeypatch, capsys):
    def section_must_not_run(o: Path, size: str) -> str:
        raise AssertionError("a section ran before --out was validated")

    monkeypatch.setattr(report, "SECTIONS", [section_must_not_run])
    a_file = tmp_path / "not_a_dir"
    a_file.write_text("keep me")
    with pytest.raises(ValueError, match="out_dir.*is an existing file, not a directory"):
        report.write_report(a_file)
    with pytest.raises(ValueError, match="out_dir.*cannot create or write"):
        report.write_report(a_file / "sub")  # a path under a file cannot be created
    assert a_file.read_text() == "keep me"
    # the command line: one line, exit status 2, nothing computed
    assert main(["report", "--out", str(a_file), "--quick"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "--out" in err and len(err.splitlines()) == 1
