"""No module in app/ over 600 lines and no function over 80, so that each file keeps one job
and each function can be read at once (issue 23). Run by .ci/run:

    python3 tools/check_sizes.py

The demo generator (app/demo/generate.py) is exempt: it writes every table of a realistic
database in one place, on purpose. ALLOWED lists what was over the limits when the check
came in: they are printed, not refused, until they are split; then their entries go.
Exit status 1 names every other offender.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
EXEMPT = {"app/demo/generate.py"}

# Over the limits when the check came in, and being split: shrink these as they are.
ALLOWED: set[str] = set()


def function_sizes(path: Path):
    """(qualified name, lines) of every function and method in the module."""
    tree = ast.parse(path.read_text(), filename=str(path))

    def walk(node, prefix: str):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                yield name, child.end_lineno - first + 1
                yield from walk(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")
            else:
                yield from walk(child, prefix)

    yield from walk(tree, "")


def sizes() -> list[tuple[str, int, int]]:
    """(module or module:function, lines, limit) of everything over its limit."""
    found = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if name in EXEMPT:
            continue
        lines = len(path.read_text().splitlines())
        if lines > MAX_MODULE_LINES:
            found.append((name, lines, MAX_MODULE_LINES))
        for function, size in function_sizes(path):
            if size > MAX_FUNCTION_LINES:
                found.append((f"{name}:{function}", size, MAX_FUNCTION_LINES))
    return found


def main() -> int:
    found = sizes()
    refused = [entry for entry in found if entry[0] not in ALLOWED]
    for name, lines, limit in found:
        if name in ALLOWED:
            print(f"allowed for now: {name}: {lines} lines (at most {limit})")
    gone = sorted(ALLOWED - {name for name, _, _ in found})
    for name in gone:
        print(f"within the limits now, take it off ALLOWED: {name}")
    for name, lines, limit in refused:
        print(f"TOO LONG: {name}: {lines} lines (at most {limit})")
    if refused:
        print(f"{len(refused)} over the limits: split them (see tools/check_sizes.py)")
        return 1
    print(
        f"Sizes: no module in app/ over {MAX_MODULE_LINES} lines and no function over "
        f"{MAX_FUNCTION_LINES}, besides the {len(ALLOWED) - len(gone)} allowed for now"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
