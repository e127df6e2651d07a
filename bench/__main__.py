"""Run every benchmark module (``bench/bench_*.py``) and print one table.

    python -m bench                 # all, default sizes
    python -m bench lookup hooks    # only those whose name contains a word

Each module has ``run(argv: list[str]) -> list[Result]``.  PostgreSQL
benchmarks read ``CARELOOP_BENCH_POSTGRES_URL``
(default ``postgresql://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

from bench.common import Result, print_table


def main(argv: list[str]) -> int:
    words = [a for a in argv if not a.startswith("-")]
    results: list[Result] = []
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda i: i.name):
        if not info.name.startswith("bench_"):
            continue
        if words and not any(w in info.name for w in words):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        print(f"== {info.name}", file=sys.stderr, flush=True)
        results += module.run([a for a in argv if a.startswith("-")])
    print_table(results)
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
