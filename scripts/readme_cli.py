"""Write each command's ``--help`` into README.md, or check that README.md still shows it.

    python scripts/readme_cli.py          # rewrite the synopses in README.md
    python scripts/readme_cli.py --check  # exit 1 and show a diff where README.md is stale

README.md marks each synopsis with ``<!-- cli: sonicsep.NAME -->`` ... ``<!-- /cli -->``; what
lies between is the output of ``python -m sonicsep.NAME --help`` at a fixed width, so the
README documents every flag the parser has and cannot drift from it (tests/test_readme.py runs
the check).
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
HELP_COLUMNS = "100"
BLOCK = re.compile(r"(<!-- cli: (?P<module>[\w.]+) -->\n)(?P<body>.*?)(<!-- /cli -->)", re.S)


def command_help(modules: list[str]) -> dict[str, str]:
    """``python -m MODULE --help`` of each module, run side by side at a fixed width."""
    env = {**os.environ, "COLUMNS": HELP_COLUMNS}
    running = {
        m: subprocess.Popen([sys.executable, "-m", m, "--help"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for m in modules
    }
    helps = {}
    for module, proc in running.items():
        out, err = proc.communicate(timeout=300)
        if proc.returncode != 0:
            raise SystemExit(f"python -m {module} --help exited {proc.returncode}:\n{err}")
        helps[module] = out
    return helps


def documented_modules(text: str) -> list[str]:
    return [m.group("module") for m in BLOCK.finditer(text)]


def with_synopses(text: str, helps: dict[str, str]) -> str:
    """``text`` with every marked block replaced by its command's help in a code fence."""
    return BLOCK.sub(
        lambda m: f"{m.group(1)}```\n{helps[m.group('module')].rstrip()}\n```\n{m.group(4)}", text
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when stale")
    args = parser.parse_args(argv)
    text = README.read_text()
    updated = with_synopses(text, command_help(documented_modules(text)))
    if updated == text:
        return 0
    if args.check:
        diff = difflib.unified_diff(text.splitlines(), updated.splitlines(), "README.md",
                                    "README.md (from --help)", lineterm="")
        print("\n".join(diff))
        print("README.md is stale: run python scripts/readme_cli.py", file=sys.stderr)
        return 1
    README.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
