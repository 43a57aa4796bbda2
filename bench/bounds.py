"""``python -m bench.bounds``: what two throughput goals leave room for, in instructions.

Two goals compare Tessera's rate with a rate that omits work Tessera must do:

* GetCallerIdentity ≥ 0.7 of the floor's (``bench.floor``), which checks the signature
  and answers, and writes no audit event, where Tessera records every call;
* AuthorizeRequest ≥ 0.8 of GetCallerIdentity's, where an AuthorizeRequest does all that
  a GetCallerIdentity does (the caller's signature, the exchange, the event, the answer)
  and then verifies a second signature (the client's) and makes two policy decisions
  (may the resource server authorize for the namespace; may the client do the action).

On one core a rate is the inverse of the CPU per request, so a goal ``r`` holds only if
``cost(Tessera) ≤ cost(reference) / r``. This measures, in instructions (callgrind, so a
busy machine does not move them), each piece of work the reference omits, by
difference: the same requests with that piece done twice, or not at all, against the
same requests as served (a piece done twice may find caches its first run filled, so a
difference is at most the piece's cost). Each line is one process running ``N``
requests after a warm-up (the pre-signed ones distinct, the header-signed one
replayed), its audit events written to a SQLite store in batches of 200 (as the
writer's thread writes them under load) inside the counted region; only the counted
region (``sys.call_tracing``) is collected:

* ``gci`` / ``gci-unwritten`` / ``gci-no-event`` / ``gci-floor``: ``bench.hot_path``'s
  pre-signed GetCallerIdentity GETs through Tessera as served, with its events built
  but never written, with no event at all, and through the floor;
* ``gci-signed`` / ``authorize`` / ``authorize-verify2`` / ``authorize-decide2`` /
  ``authorize-permit2``: ``bench.authz_call``'s header-signed requests, GetCallerIdentity
  and AuthorizeRequest, the latter as served and with the client's signature verified
  twice, the client's action decided twice, and the resource server's permission
  decided twice.

The bound printed for each goal assumes that everything else Tessera does costs
nothing, and adds to both sides the serving cost (uvicorn, the loop, the HTTP parse)
that an in-process count leaves out: it prints the least serving cost per request at
which the goal could still be met, to set against the floor's measured one
(``python -m bench.served_instructions --server floor``, less ``gci-floor``).

    python -m bench.bounds                 # every line under callgrind (about 4 min on 2 cores)
    python -m bench.bounds -n 500 --jobs 1
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any

VARIANTS = (
    "gci",
    "gci-unwritten",
    "gci-no-event",
    "gci-floor",
    "gci-signed",
    "authorize",
    "authorize-verify2",
    "authorize-decide2",
    "authorize-permit2",
)
AUDIT_EVERY = 200
WARM_UP = 300


def _twice(owner: Any, name: str, when: Callable[..., bool] = lambda *a, **k: True) -> None:
    """Make ``owner.name`` do its work twice per call (when ``when`` holds): the
    difference in instructions is the cost of one."""
    original = getattr(owner, name)

    def doubled(*args: Any, **kwargs: Any) -> Any:
        if when(*args, **kwargs):
            original(*args, **kwargs)
        return original(*args, **kwargs)

    setattr(owner, name, doubled)


def _patch(variant: str) -> None:
    """Change, in this process only, what ``variant`` measures."""
    from tessera.audit.sink import AuditWriter
    from tessera.server.app import TesseraApp
    from tessera.services import authz
    from tessera.services.request import OperationContext

    if variant in ("gci-unwritten", "gci-no-event"):
        AuditWriter.submit = lambda self, event: None  # type: ignore[method-assign]
    if variant == "gci-no-event":
        built = TesseraApp._event
        # a write's incomplete event is still built (none in the measured requests)
        TesseraApp._event = lambda self, ex, complete=True: {} if complete else built(self, ex, complete=False)  # type: ignore[method-assign]
    if variant == "authorize-verify2":
        _twice(authz, "_verify_client")
    if variant == "authorize-decide2":
        _twice(authz._EntryInput, "decide")
    if variant == "authorize-permit2":
        _twice(OperationContext, "authorize", lambda self, action, *a, **k: action == authz.AUTHORIZE_ACTION)


def _requests(variant: str, data_dir: str, n: int) -> tuple[Any, list[tuple[dict[str, Any], bytes]], Any, Callable[[], None]]:
    """The ASGI app, ``n + WARM_UP`` (scope, body) pairs, its audit writer (or None) and
    a function that shuts it all down."""
    from bench import hot_path
    from bench.authz_call import authorize_scope, provision
    from bench.inproc import build_app, signed_scope
    from tessera.audit.sink import AuditWriter

    if variant.startswith("gci") and variant != "gci-signed":
        if variant == "gci-floor":
            floor_app, principal = hot_path.build_floor(data_dir)
            scopes = hot_path.targets(principal, "GetCallerIdentity", n + WARM_UP)
            journal = floor_app.journal
            assert journal is not None  # INVARIANT: build_floor gives the floor its journal
            return floor_app, [(scope, b"") for scope in scopes], None, journal.close
        runtime, app, principal = hot_path.build_tessera(data_dir)
        scopes = hot_path.targets(principal, "GetCallerIdentity", n + WARM_UP)

        def close_tessera() -> None:
            app.executor.shutdown(wait=True)
            app.audit.close()
            runtime.store.close()

        return app, [(scope, b"") for scope in scopes], app.audit, close_tessera
    runtime, app = build_app(data_dir)
    app.audit = AuditWriter(runtime.store, pause=0)  # written to the store, as served
    if variant == "gci-signed":
        scope, body = signed_scope({"Action": "GetCallerIdentity", "Version": "2011-06-15"}, "sts")
    else:
        scope, body = authorize_scope(*provision(app))

    def close_app() -> None:
        app.executor.shutdown(wait=True)
        app.audit.close()
        runtime.store.close()

    return app, [(scope, body)] * (n + WARM_UP), app.audit, close_app


def child(variant: str, n: int) -> int:
    """One line: ``n`` requests through ``sys.call_tracing`` (what callgrind collects)."""
    _patch(variant)
    with tempfile.TemporaryDirectory(prefix="tessera-bounds-") as data_dir:
        app, requests, audit, close = _requests(variant, data_dir, n)
        statuses: set[int] = set()
        loop = asyncio.new_event_loop()

        async def requests_in(batch: list[tuple[dict[str, Any], bytes]]) -> None:
            # one coroutine awaiting each call, as ``bench.hot_path`` drives them: the
            # task a server makes per request is the serving's cost, not the app's
            for i, (scope, body) in enumerate(batch):
                message = {"type": "http.request", "body": body, "more_body": False}

                async def receive() -> MutableMapping[str, Any]:
                    return message  # noqa: B023

                async def send(sent: MutableMapping[str, Any]) -> None:
                    if sent["type"] == "http.response.start":
                        statuses.add(sent["status"])

                await app(scope, receive, send)
                if audit is not None and i % AUDIT_EVERY == AUDIT_EVERY - 1:
                    audit.flush()
            if audit is not None:
                audit.flush()

        def run(batch: list[tuple[dict[str, Any], bytes]]) -> None:
            loop.run_until_complete(requests_in(batch))

        try:
            run(requests[:WARM_UP])
            sys.call_tracing(run, (requests[WARM_UP:],))
        finally:
            loop.close()
            close()
        if statuses != {200}:
            print(f"{variant}: answered {sorted(statuses)}", file=sys.stderr)
            return 1
    return 0


def measure(variant: str, n: int) -> float:
    """Instructions per request of ``variant``, counted by callgrind in a child process."""
    with tempfile.TemporaryDirectory(prefix="tessera-bounds-cg-") as work:
        out = os.path.join(work, "callgrind.out")
        command = [
            "valgrind",
            "--tool=callgrind",
            "--collect-atstart=no",
            "--toggle-collect=sys_call_tracing",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-m",
            "bench.bounds",
            "--child",
            variant,
            "-n",
            str(n),
        ]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{variant} failed:\n{done.stderr[-3000:]}")
        with open(out) as lines:
            total = next(int(line.split()[1]) for line in lines if line.startswith("totals:"))
    return total / n


def report(costs: dict[str, float], served_floor: float | None) -> None:
    k = 1000.0
    for variant in VARIANTS:
        print(f"  {variant:<20} {costs[variant] / k:8.1f} k instructions per request")
    floor, gci = costs["gci-floor"], costs["gci"]
    audit, writing = gci - costs["gci-no-event"], gci - costs["gci-unwritten"]
    print("\nGetCallerIdentity against the floor (goal 0.7), pre-signed:")
    print(f"  in process: floor / Tessera {floor / gci:.3f}; the audit event {audit / k:.1f} k ({writing / k:.1f} k of it writing the row)")
    alone = floor / (floor + audit)
    print(f"  0.7 allows {(floor / 0.7 - floor) / k:.1f} k beyond the floor; the event alone: floor / (floor + event) {alone:.3f}")
    if served_floor is not None:
        serving = served_floor - floor
        allowance = served_floor / 0.7 - served_floor
        print(
            f"  served (the floor {served_floor / k:.1f} k, so serving {serving / k:.1f} k): 0.7 allows {allowance / k:.1f} k beyond the "
            f"floor, {(allowance - audit) / k:.1f} k of it left beside the event; Tessera's own besides the event: "
            f"{(costs['gci-no-event'] - floor) / k:.1f} k in process"
        )
    signed, authorize = costs["gci-signed"], costs["authorize"]
    verify = costs["authorize-verify2"] - authorize
    decide = costs["authorize-decide2"] - authorize
    permit = costs["authorize-permit2"] - authorize
    extra = verify + decide + permit
    print("\nAuthorizeRequest against GetCallerIdentity (goal 0.8), both header-signed:")
    print(f"  in process: GetCallerIdentity {signed / k:.1f} k, AuthorizeRequest {authorize / k:.1f} k, ratio {signed / authorize:.3f}")
    print(
        f"  work GetCallerIdentity does not do: the client's signature {verify / k:.1f} k, the client's decision "
        f"{decide / k:.1f} k, the resource server's permission {permit / k:.1f} k ({extra / k:.1f} k)"
    )
    print(f"  were these three AuthorizeRequest's only work beyond GetCallerIdentity's: ratio {signed / (signed + extra):.3f}")
    print(f"  0.8 would need serving (the same on both) to cost at least {(4 * extra - signed) / k:.1f} k per request")


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bounds", description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=1000, help="counted requests per line")
    parser.add_argument("--jobs", type=int, default=2, help="lines measured at once")
    parser.add_argument("--served-floor", type=float, help="the served floor's instructions per request (bench.served_instructions)")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.n)
    if shutil.which("valgrind") is None:
        print("needs valgrind", file=sys.stderr)
        return 2
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        costs = dict(zip(VARIANTS, pool.map(lambda v: measure(v, args.n), VARIANTS), strict=True))
    report(costs, args.served_floor)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
