"""``python -m bench.served_instructions``: instructions per request of a served process under wrk.

``bench.hot_path`` counts the app alone, in-process; the load bench measures the whole
server in seconds, which a shared machine moves by 2× between runs. This counts the
whole served process — uvicorn, the event loop, the app and every thread (Tessera's
audit writer included) — with callgrind, so the floor and Tessera can be compared over
HTTP without the neighbours' noise:

* the server starts under ``valgrind --tool=callgrind --instr-atstart=no`` (pinned to
  the server core, as the load bench starts it), is provisioned as the load bench does
  it (Tessera: the bench user, its policy and ten roles through IAM), and is warmed up
  by wrk with instrumentation off;
* ``callgrind_control -i on``, one wrk run at the given concurrency, ``-i off``, a dump:
  the dump's total over the requests wrk completed is the cost of one request.

Work on a clock rather than per request (Tessera's change probe every 25 ms, the view's
poll, the audit writer's wake-ups every 250 ms) is counted too, and the server under
callgrind answers some fifty times slower than it would, so those parts weigh more
here than at full speed: the figure is an upper bound for Tessera, and the floor has
no such work.

    python -m bench.served_instructions --server floor --operation GetCallerIdentity
    python -m bench.served_instructions --server tessera --operation AssumeRole --seconds 30
"""

from __future__ import annotations

import argparse
import glob
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench import load, seed, servers, wrk
from tessera.auth import tokens

CALLGRIND = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]


def dump_total(paths: Sequence[str]) -> int:
    """The instructions of callgrind dumps: the sum of their ``totals:`` lines."""
    total = 0
    for path in paths:
        with open(path) as lines:
            total += next((int(line.split()[1]) for line in lines if line.startswith("totals:")), 0)
    return total


def _start(which: str, work: Path, port: int, out: str) -> tuple[servers.Server, load.Principal | None]:
    command = [*CALLGRIND, f"--callgrind-out-file={out}"]
    if which == load.FLOOR:
        from bench import floor

        principal = load.Principal(
            tokens.new_access_key_id("AKIA", account=load.ACCOUNT),
            tokens.new_secret_access_key(),
            f"arn:aws:iam::{load.ACCOUNT}:role/{seed.role_names(10)[-1]}",
        )
        env = {
            floor.KEY_ID_VARIABLE: principal.access_key_id,
            floor.SECRET_VARIABLE: principal.secret_access_key,
            floor.JOURNAL_VARIABLE: str(work / "floor-journal.db"),
        }
        command += load.uvicorn_command("bench.floor:app", port)
        return servers.start(which, command, port=port, health_path="/", log_dir=work, cwd=load.REPO, env=env), principal
    command += [load.executable("tessera"), "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(work / "data")]
    command.append("--no-access-log")
    return servers.start(which, command, port=port, health_path="/healthz", log_dir=work, env=load.tessera_env()), None


def measure(which: str, operation: str, seconds: int, connections: int) -> tuple[int, int]:
    """(instructions, requests) of one instrumented wrk run against a fresh server."""
    servers.START_TIMEOUT = max(servers.START_TIMEOUT, 300.0)  # start-up under valgrind
    with tempfile.TemporaryDirectory(prefix="tessera-served-") as directory:
        work = Path(directory)
        out = str(work / "callgrind.%p.out")
        port = servers.free_port()
        server, principal = _start(which, work, port, out)
        with server:
            if principal is None:
                target = f"arn:aws:iam::{load.ACCOUNT}:role/{seed.role_names(10)[-1]}"
                principal = load.provision(server.base_url, create_roles=10, target_role=target)
            targets = work / "targets.txt"
            load.write_targets(targets, server.base_url, principal, operation, 4000)
            wrk.run(server.base_url, targets, connections=connections, seconds=5)  # warm-up, uncounted
            control = ["callgrind_control"]
            subprocess.run([*control, "-i", "on", str(server.pid)], check=True, capture_output=True)
            result = wrk.run(server.base_url, targets, connections=connections, seconds=seconds)
            subprocess.run([*control, "-i", "off", str(server.pid)], check=True, capture_output=True)
            subprocess.run([*control, "-d", str(server.pid)], check=True, capture_output=True)
            if not result.clean:
                raise RuntimeError(f"{which} {operation}: {result.refused} refused, {result.socket_errors} socket errors")
            return dump_total(glob.glob(out.replace("%p", str(server.pid)) + "*")), result.requests


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.served_instructions", description=__doc__.split("\n")[0])
    parser.add_argument("--server", choices=(load.FLOOR, load.TESSERA), action="append", help="repeatable; default both")
    parser.add_argument("--operation", choices=load.OPERATIONS, action="append", help="repeatable; default both")
    parser.add_argument("--seconds", type=int, default=20, help="length of the counted wrk run")
    parser.add_argument("--connections", type=int, default=16, help="wrk's concurrency")
    args = parser.parse_args(argv)
    if wrk.available() is None or not all(map(shutil.which, ("valgrind", "callgrind_control"))):
        print("needs wrk, valgrind and callgrind_control", file=sys.stderr)
        return 2
    for operation in args.operation or load.OPERATIONS:
        costs = {}
        for which in args.server or (load.FLOOR, load.TESSERA):
            instructions, requests = measure(which, operation, args.seconds, args.connections)
            costs[which] = instructions / requests
            print(f"{operation:<18} {which:<8} {costs[which] / 1000:8.1f} k instructions/request  ({requests} requests)")
        if len(costs) == 2:
            print(f"{operation:<18} floor/tessera {costs[load.FLOOR] / costs[load.TESSERA]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
