"""The example notes service (examples/notes) under wrk, with and without the
``tessera_authz`` middleware: what authorizing each request through Tessera adds.

One ``tessera serve`` and the notes service (one uvicorn worker, uvloop, httptools) share
the server core; wrk runs on the other. The requests are presigned GetNote URLs of one
note (stock boto3 ``generate_presigned_url``), each with its own ``X-Amz-Expires``, so
every request is verified and decided on its own: with the middleware, each costs an
AuthorizeRequest to Tessera (signature verified, the bench user's identity policy with a
condition evaluated, and the service's own ``tessera:AuthorizeRequest`` decided); without
it (bench/notes_bare.py), the same routing and SQLite read only. Output: a table on
stdout and ``bench/results/notes-example.json``.

Run: ``python -m bench.notes_example`` (``--quick`` for a short run), or
``python -m bench notes``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import servers, wrk
from bench.load import ACCOUNT, REGION, REPO, client, model_client, tessera_server, uvicorn_command

EXAMPLE = REPO / "examples" / "notes"
NOTEBOOK = "bench"


def provision(endpoint: str) -> tuple[dict[str, str], dict[str, str]]:
    """The service's identity and the bench client's (allowed GetNote from loopback only)."""
    iam = client("iam", endpoint)
    keys = []
    documents = [
        {"Effect": "Allow", "Action": "tessera:AuthorizeRequest", "Resource": f"arn:aws:tessera::{ACCOUNT}:authorizer/notes"},
        {"Effect": "Allow", "Action": "notes:*", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}},
    ]
    for name, statement in zip(("notes-service", "notes-bench"), documents, strict=True):
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        keys.append({"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]})
    return keys[0], keys[1]


def notes_client(endpoint: str, keys: dict[str, str]) -> Any:
    return model_client(
        "notes",
        EXAMPLE / "models",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
    )


def measure(name: str, server: servers.Server, targets: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    wrk.run(server.base_url, targets, connections=max(args.concurrency), seconds=args.warmup)
    rows = []
    for connections in args.concurrency:
        result = wrk.run(server.base_url, targets, connections=connections, seconds=args.seconds)
        rows.append({"service": name, "concurrency": connections, **result.as_dict()})
        figures = f"{result.rps:>8.0f} req/s  p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  refused {result.refused}"
        print(f"  {name:<18} c={connections:<3} {figures}", file=sys.stderr)
    return rows


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.notes_example")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "notes-example.json")
    args = parser.parse_args(argv)
    args.seconds, args.warmup, args.urls = (3.0, 1.0, 300) if args.quick else (10.0, 3.0, 3000)
    args.concurrency = (1, 16)
    if wrk.available() is None:
        print("wrk is not installed (make bench installs it)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-notes-") as tmp:
        work = Path(tmp)
        rows: list[dict[str, Any]] = []
        with tessera_server("tessera", work / "tessera-data", work) as tessera:
            service_keys, bench_keys = provision(tessera.base_url)
            env = {
                "NOTES_ACCOUNT": ACCOUNT,
                "NOTES_REGION": REGION,
                "NOTES_DB": str(work / "notes.db"),
                "TESSERA_ENDPOINT": tessera.base_url,
            }
            env |= service_keys | {
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_EC2_METADATA_DISABLED": "true",
            }
            port = servers.free_port()
            command = [*uvicorn_command("notes_service:create_app", port), "--factory", "--app-dir", str(EXAMPLE)]
            with servers.start("notes-authz", command, port=port, health_path="/healthz", log_dir=work, env=env) as notes:
                bench = notes_client(notes.base_url, bench_keys)
                bench.create_notebook(NotebookName=NOTEBOOK)
                bench.put_note(NotebookName=NOTEBOOK, NoteId="n1", Text="a note of a few words")
                targets = work / "targets.txt"
                lines = []
                for i in range(args.urls):
                    url = bench.generate_presigned_url("get_note", Params={"NotebookName": NOTEBOOK, "NoteId": "n1"}, ExpiresIn=3600 + i)
                    lines.append(url[len(notes.base_url) :])
                targets.write_text("\n".join(lines) + "\n")
                rows += measure("with middleware", notes, targets, args)
            port = servers.free_port()
            bare_env = {k: v for k, v in env.items() if not k.startswith("AWS_")}
            with servers.start(
                "notes-bare",
                uvicorn_command("bench.notes_bare:app", port),
                port=port,
                health_path="/healthz",
                log_dir=work,
                env=bare_env,
                cwd=REPO,
            ) as bare:
                # the presigned URLs name the other port in their Host; the bare service reads no signature
                rows += measure("without middleware", bare, targets, args)
    columns = ("p50 with", "p50 bare", "p50 added", "p99 with", "p99 bare", "p99 added", "req/s with", "req/s bare")
    print(f"{'concurrency':>11}" + "".join(f"  {c:>10}" for c in columns))
    summary = []
    for connections in args.concurrency:
        with_, bare_ = (
            next(r for r in rows if r["service"] == s and r["concurrency"] == connections)
            for s in ("with middleware", "without middleware")
        )
        added = {
            "concurrency": connections,
            "p50_added_ms": with_["p50_ms"] - bare_["p50_ms"],
            "p99_added_ms": with_["p99_ms"] - bare_["p99_ms"],
        }
        summary.append(added)
        ms = [with_["p50_ms"], bare_["p50_ms"], added["p50_added_ms"], with_["p99_ms"], bare_["p99_ms"], added["p99_added_ms"]]
        print(f"{connections:>11}" + "".join(f"  {v:>8.2f}ms" for v in ms) + f"  {with_['rps']:>10.0f}  {bare_['rps']:>10.0f}")
    clean = all(r["clean"] for r in rows)
    if not clean:
        print("a run had refused responses or socket errors: not a result", file=sys.stderr)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"runs": rows, "added": summary, "clean": clean}, indent=2) + "\n")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
