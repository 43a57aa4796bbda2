"""``tessera serve``: run the server (the start-up contract other tools rely on)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from tessera.server.bootstrap import ConfigError

log = logging.getLogger("tessera")


def add_store_arguments(parser: argparse.ArgumentParser, *, required_data_dir: bool = True) -> None:
    parser.add_argument("--data-dir", required=required_data_dir, help="directory for the master key and the SQLite database")
    parser.add_argument("--database-url", help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db (default: SQLite in the data dir)")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("serve", help="serve IAM, STS and Organizations on one endpoint")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8686)
    add_store_arguments(parser)
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    parser.add_argument("--no-access-log", action="store_true", help="do not log one line per request")
    parser.add_argument("--trusted-proxy-header", help="take aws:SourceIp from this header (e.g. X-Forwarded-For)")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="seconds between checks for writes by other nodes")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from tessera.audit.sink import AuditWriter
    from tessera.server import logs
    from tessera.server.app import TesseraApp
    from tessera.server.bootstrap import open_runtime
    from tessera.server.metrics import ServerMetrics

    logs.configure(args.log_format, args.log_level)
    try:
        runtime = open_runtime(args.data_dir, args.database_url)
    except ConfigError as error:
        print(f"tessera: {error.message}", file=sys.stderr)
        return 2
    audit = AuditWriter(runtime.store)
    metrics = ServerMetrics(audit_backlog=lambda: audit.backlog)
    runtime.metrics = metrics
    app = TesseraApp(
        runtime,
        audit=audit,
        metrics=metrics,
        poll_interval=args.poll_interval,
        access_log_enabled=not args.no_access_log,
        trusted_proxy_header=args.trusted_proxy_header,
    )
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=30,
    )
    log.info(
        "serving account %s on http://%s:%d (pid %d)",
        runtime.settings.management_account,
        args.host,
        args.port,
        os.getpid(),
    )
    # uvicorn shuts down gracefully on SIGTERM/SIGINT (in-flight requests finish, the
    # lifespan shutdown flushes the audit trail) and then re-raises the signal with the
    # handlers that were in place before it started: these turn it into a clean exit.
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        uvicorn.Server(config).run()
    except _Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        runtime.store.close()
    log.info("stopped")
    return 0


class _Stopped(Exception):
    pass


def _stop(signum: int, frame: object) -> None:
    raise _Stopped()
