#!/usr/bin/env python3
"""The longest functions of the crate (non-test code under src/), longest first.

A function runs from its `fn` line to the brace that closes its body; the count is its lines,
blank lines and comments included (what a reader scrolls through). Test modules
(`#[cfg(test)] mod …`) are left out. Usage: scripts/longest-functions.py [N] [src]
"""

import re
import sys
from pathlib import Path

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20
SRC = Path(sys.argv[2] if len(sys.argv) > 2 else Path(__file__).resolve().parent.parent / "src")
FN = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:(?:async|const|unsafe|extern\s+\"\w+\")\s+)*fn\s+(\w+)")
TEST_MOD = re.compile(r"^\s*#\[cfg\(test\)\]")


def code_only(line: str) -> str:
    """The line without string/char literals and its comment, for brace counting."""
    line = re.sub(r'"(?:\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(?:\\.|[^'\\])'", "''", line)
    return line.split("//", 1)[0]


def functions(path: Path):
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        if TEST_MOD.match(lines[i]) and i + 1 < len(lines) and re.match(r"^\s*(pub\s+)?mod\s+\w+\s*\{", lines[i + 1]):
            break  # test modules sit at the end of the file
        m = FN.match(lines[i])
        if not m:
            i += 1
            continue
        depth, opened, j = 0, False, i
        while j < len(lines):
            code = code_only(lines[j])
            if not opened and ";" in code and "{" not in code:
                break  # a declaration without a body (trait method)
            for ch in code:
                if ch == "{":
                    depth += 1
                    opened = True
                elif ch == "}":
                    depth -= 1
            if opened and depth <= 0:
                break
            j += 1
        if opened:
            yield m.group(1), i + 1, j - i + 1
        i += 1  # nested functions are counted too


rows = []
for f in sorted(SRC.rglob("*.rs")):
    for name, line, length in functions(f):
        rows.append((length, f"{f.relative_to(SRC.parent)}:{line}", name))
rows.sort(key=lambda r: (-r[0], r[1]))
for length, where, name in rows[:N]:
    print(f"{length:5}  {name:<32} {where}")
print(f"functions: {len(rows)}, over 80 lines: {sum(r[0] > 80 for r in rows)}, over 50: {sum(r[0] > 50 for r in rows)}")
