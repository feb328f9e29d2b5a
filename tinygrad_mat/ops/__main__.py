"""``python -m tinygrad_mat.ops README.md``: rewrite the op tables between their markers in a file."""
import sys
from pathlib import Path

from . import composite_table, rule_table

TABLES = {"op-table": rule_table, "composite-table": composite_table}


def fill(text):
    """``text`` with each generated table put between its ``<!-- name:start -->`` / ``end`` markers."""
    for name, table in TABLES.items():
        start, end = f"<!-- {name}:start -->\n", f"\n<!-- {name}:end -->"
        before, rest = text.split(start)
        after = rest.split(end)[1]
        text = before + start + table() + end + after
    return text


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    path.write_text(fill(path.read_text(encoding="utf-8")), encoding="utf-8")
