#!/usr/bin/env python3
"""Exit 0 when two CSV bodies hold the same rows in the same order, `__mv_` columns aside."""

import csv
import sys


def rows(path):
    with open(path, newline="") as f:
        table = list(csv.reader(f))
    if not table:
        return []
    keep = [i for i, c in enumerate(table[0]) if not c.startswith("__mv_")]
    return [[r[i] if i < len(r) else "" for i in keep] for r in table]


a, b = rows(sys.argv[1]), rows(sys.argv[2])
if a == b:
    print(f"same {len(a) - 1} rows")
    sys.exit(0)
print(f"differ: {len(a) - 1} rows vs {len(b) - 1}")
for x, y in zip(a, b):
    if x != y:
        print(f"  first difference:\n  {x}\n  {y}")
        break
sys.exit(1)
