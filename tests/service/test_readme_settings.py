"""The README's settings table is the documentation of every environment variable."""

from pathlib import Path

from service.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented_in_the_readme_table():
    table_rows = [line for line in README.read_text().splitlines() if line.startswith("| `")]
    documented = {row.split("`")[1] for row in table_rows}
    missing = {name.upper() for name in Settings.model_fields} - documented
    assert not missing, f"README settings table lacks {sorted(missing)}"
