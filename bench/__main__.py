"""`python -m bench [name ...]`: run the named benchmarks (all when none are named).

A benchmark is a module `bench/<name>_bench.py` with `main(argv) -> int`; arguments
after `--` go to each benchmark."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def available() -> list[str]:
    return sorted(p.stem.removesuffix("_bench") for p in Path(__file__).parent.glob("*_bench.py"))


def main(argv: list[str]) -> int:
    names, rest = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    )
    known = available()
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(known)}")
        return 2
    status = 0
    for name in names or known:
        print(f"== {name} ==", flush=True)
        module = importlib.import_module(f"bench.{name}_bench")
        status = max(status, module.main(rest) or 0)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
