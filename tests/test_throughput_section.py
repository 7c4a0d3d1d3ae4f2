"""benchmarks/throughput.py writes its figures into RESULTS.md: a rerun replaces them and keeps a person's notes."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import throughput


def test_a_rerun_replaces_the_figures_and_keeps_the_notes_and_the_other_sections(tmp_path):
    results = tmp_path / "RESULTS.md"
    results.write_text(f"# Results\n\n## Speed\n\nold speed\n\n{throughput.SECTION}\n\n| old table |\n\n"
                       f"{throughput.NOTES}\n\nWhy the figures move.\n\n## Formats\n\nformats table\n")
    throughput.write_section(results, f"{throughput.SECTION}\n\n| new table |")
    text = results.read_text()
    assert "| old table |" not in text and text.count(throughput.SECTION) == 1
    assert text.index("| new table |") < text.index("Why the figures move.")
    assert "old speed" in text and "formats table" in text
    throughput.write_section(results, f"{throughput.SECTION}\n\n| newer table |")
    assert results.read_text().count("Why the figures move.") == 1 and "| new table |" not in results.read_text()
