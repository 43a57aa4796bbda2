"""``python -m bench [policy|load|audit|node_delay|write|notes|all] [options]``: run the benchmarks (default: all).

Options after the choice go to each benchmark run (all accept ``--quick``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from bench import audit_durable, load, node_delay, notes_example, policy_bench, write_scale

BENCHMARKS: dict[str, Callable[[Sequence[str]], int]] = {
    "policy": policy_bench.main,
    "load": load.main,
    "audit": audit_durable.main,
    "node_delay": node_delay.main,
    "write": write_scale.main,
    "notes": notes_example.main,
}


def main(argv: Sequence[str]) -> int:
    choice, rest = "all", list(argv)
    if rest and not rest[0].startswith("-"):
        choice = rest.pop(0)
    if choice != "all" and choice not in BENCHMARKS:
        print(__doc__, file=sys.stderr)
        return 2
    chosen = list(BENCHMARKS) if choice == "all" else [choice]
    status = 0
    for name in chosen:
        print(f"== {name} ==", flush=True)
        status = max(status, BENCHMARKS[name](rest))
    return status


sys.exit(main(sys.argv[1:]))
