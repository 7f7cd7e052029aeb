"""`make memory` rewrites MEMORY.md's measured part and keeps the notes written by hand."""

from __future__ import annotations

from loadtest.bench.memory import NOTES_MARKER, kept_notes


def test_the_notes_after_the_marker_are_kept_and_the_measured_part_is_not(tmp_path):
    report = tmp_path / "MEMORY.md"
    notes = f"{NOTES_MARKER}\n\n## Allocator\n\nMALLOC_ARENA_MAX=2 changed nothing.\n"
    report.write_text("# Memory\n\n| old | table |\n" + notes)
    assert kept_notes(report) == "\n" + notes


def test_a_report_without_notes_or_without_a_file_keeps_nothing(tmp_path):
    report = tmp_path / "MEMORY.md"
    assert kept_notes(report) == ""
    report.write_text("# Memory\n\n| a | table |\n")
    assert kept_notes(report) == ""
