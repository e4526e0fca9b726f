"""README.md shows each command's real ``--help`` (scripts/readme_cli.py writes it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _readme_cli():
    spec = importlib.util.spec_from_file_location("readme_cli", REPO / "scripts" / "readme_cli.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_documents_every_command_line_tool():
    documented = set(_readme_cli().documented_modules((REPO / "README.md").read_text()))
    commands = {
        f"sonicsep.{p.stem}"
        for p in (REPO / "sonicsep").glob("*.py")
        if 'if __name__ == "__main__":' in p.read_text()
    }
    assert commands and commands == documented


def test_readme_synopses_equal_help_of_the_commands(capsys):
    # Runs every `python -m sonicsep.X --help` as a subprocess and compares with README.md.
    assert _readme_cli().main(["--check"]) == 0, capsys.readouterr().out


def test_a_stale_synopsis_is_replaced_by_the_help_text():
    cli = _readme_cli()
    text = "intro\n<!-- cli: sonicsep.x -->\n```\nold --flag\n```\n<!-- /cli -->\nrest\n"
    assert cli.documented_modules(text) == ["sonicsep.x"]
    assert cli.with_synopses(text, {"sonicsep.x": "usage: x [--new]\n"}) == (
        "intro\n<!-- cli: sonicsep.x -->\n```\nusage: x [--new]\n```\n<!-- /cli -->\nrest\n"
    )
