"""``tessera serve``: run the server (the start-up contract other tools rely on).

``tessera serve --host H --port P --data-dir D [--database-url URL]`` is the contract;
every other flag is optional:

- ``--tls-cert``/``--tls-key``: serve HTTPS (TLS 1.2+) with this PEM chain and key,
  reloaded from the same paths on ``SIGHUP``. Without them the server speaks plain HTTP
  and warns at start-up when it listens beyond loopback.
- ``--trusted-proxy-header``/``--trusted-proxies``: take the source address from a
  header written by a reverse proxy at one of these addresses (``server/addresses.py``).
- ``--metrics-listen HOST:PORT``: serve Prometheus ``/metrics`` on a separate listener
  (off by default; the API listener never serves it).
- ``--audit-retention DURATION``: delete audit events older than this (days, or
  ``36h``, ``30m``…), at start-up and every minute, in small batches (default: keep all).
- ``--workers N``: N server processes on one port, bootstrapped and
  supervised by this one (``server/workers.py``); ``--poll-interval`` and
  ``--change-check-interval``: how soon a process sees writes made by the others
  (and by other nodes on the same database).
- ``--max-header-bytes``, ``--max-header-count``, ``--header-timeout`` (also the TLS
  handshake deadline),
  ``--body-timeout``, ``--max-connections``: limits on connections and what they may
  send (``server/http.py``).
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import socket
import ssl
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from tessera.server.addresses import LOOPBACK, describe, is_loopback_host, parse_networks
from tessera.server.bootstrap import ConfigError
from tessera.server.http import HttpLimits

if TYPE_CHECKING:
    from types import FrameType

    import uvicorn

    from tessera.server.tls import CertificateReloader
    from tessera.services.runtime import Runtime

log = logging.getLogger("tessera")


def add_store_arguments(parser: argparse.ArgumentParser, *, required_data_dir: bool = True) -> None:
    parser.add_argument("--data-dir", required=required_data_dir, help="directory for the master key and the SQLite database")
    parser.add_argument("--database-url", help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db (default: SQLite in the data dir)")


class CommandFailed(Exception):
    """Ends a command: ``message`` is printed to standard error and ``status`` is its exit
    status (``main``)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message, self.status = message, status


@contextmanager
def store_runtime(args: argparse.Namespace, command: str = "tessera") -> Iterator[Runtime]:
    """The runtime over the store of ``--data-dir``/``--database-url`` (start-up messages
    to standard error), closed when the block ends; a configuration it refuses ends the
    command with status 2 and ``command: why``."""
    from tessera.server.bootstrap import open_runtime

    try:
        runtime = open_runtime(args.data_dir, args.database_url, out=sys.stderr, command=command)
    except ConfigError as error:
        raise CommandFailed(f"{command}: {error.message}", 2) from None
    try:
        yield runtime
    finally:
        runtime.store.close()


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("serve", help="serve IAM, STS and Organizations on one endpoint")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8686)
    add_store_arguments(parser)
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    parser.add_argument("--no-access-log", action="store_true", help="do not log one line per request")
    parser.add_argument("--no-console", action="store_true", help="do not serve the web console (/console/)")
    parser.add_argument(
        "--trusted-proxy-header",
        help="take aws:SourceIp from this header (X-Forwarded-For or Forwarded) when the connection "
        "comes from a trusted proxy, reading it from the right",
    )
    parser.add_argument(
        "--trusted-proxies",
        help="comma-separated addresses or CIDR blocks of the proxies trusted to write "
        "--trusted-proxy-header (default: loopback, 127.0.0.0/8 and ::1)",
    )
    parser.add_argument("--tls-cert", help="PEM certificate chain: serve HTTPS (reloaded on SIGHUP)")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    parser.add_argument(
        "--saml-endpoint",
        default=os.environ.get("TESSERA_SAML_ENDPOINT", "https://signin.aws.amazon.com/saml"),
        help="AssumeRoleWithSAML: the URL SAML responses must name as Destination and Recipient "
        "(env TESSERA_SAML_ENDPOINT; default: %(default)s)",
    )
    parser.add_argument(
        "--saml-audience",
        default=os.environ.get("TESSERA_SAML_AUDIENCE", "urn:amazon:webservices"),
        help="AssumeRoleWithSAML: the Audience SAML assertions must include (env TESSERA_SAML_AUDIENCE; default: %(default)s)",
    )
    parser.add_argument("--metrics-listen", metavar="HOST:PORT", help="serve Prometheus /metrics on this address (default: not served)")
    defaults = HttpLimits()
    parser.add_argument(
        "--max-header-bytes",
        type=int,
        default=defaults.max_header_bytes,
        help="largest request line and header section, in bytes (default: %(default)s)",
    )
    parser.add_argument(
        "--max-header-count", type=int, default=defaults.max_header_count, help="most header lines in a request (default: %(default)s)"
    )
    parser.add_argument(
        "--header-timeout",
        type=float,
        default=defaults.header_timeout,
        help="seconds to receive a request's headers, and to finish a TLS handshake (default: %(default)s)",
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        default=defaults.body_timeout,
        help="seconds to receive a request's body after its headers, and for a client that stops "
        "reading its answers to read again (default: %(default)s)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=defaults.max_connections,
        help="most connections open at once; more are answered 503 and closed (default: %(default)s)",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=1.0,
        help="seconds between full checks for writes by other nodes and workers, the fallback of "
        "--change-check-interval; also how often last-use notes are written (default: %(default)s)",
    )
    parser.add_argument(
        "--change-check-interval",
        type=float,
        default=0.025,
        help="SQLite: seconds between cheap checks for commits by other processes (PostgreSQL: any value "
        "above 0 listens for change notifications instead); 0: --poll-interval alone (default: %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes answering on one port, supervised by this one (default: %(default)s)",
    )
    parser.add_argument(
        "--audit-retention",
        metavar="DURATION",
        help="delete audit events older than this: days (90) or a number with s, m, h or d (36h); default: keep every event",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tessera.server import logs
    from tessera.server.bootstrap import open_runtime

    logs.configure(args.log_format, args.log_level)
    # a crash in native code (a segfault, an abort) writes every thread's Python stack to
    # stderr before the process dies, so an operator (and a test) sees where it happened
    faulthandler.enable()
    os.umask(0o077)  # whatever the server creates in the data directory is the owner's alone
    try:
        options = _check(args)
        tls = _tls(args)
        metrics = options["metrics"]
        metrics_sockets = _listeners(metrics[0], metrics[1], args.workers, "--metrics-listen") if metrics else []
        api_sockets = _listeners(args.host, args.port, args.workers, "--host/--port") if args.workers > 1 else []
        runtime = open_runtime(args.data_dir, args.database_url)
        runtime.settings.saml_endpoint, runtime.settings.saml_audience = args.saml_endpoint, args.saml_audience
    except ConfigError as error:
        print(f"tessera: {error.message}", file=sys.stderr)
        return 2
    scheme = "https" if tls is not None else "http"
    log.info(
        "serving account %s on %s://%s:%d (pid %d%s)",
        runtime.settings.management_account,
        scheme,
        args.host,
        args.port,
        os.getpid(),
        f", {args.workers} workers" if args.workers > 1 else "",
    )
    if tls is None and not is_loopback_host(args.host):
        log.warning(
            "listening on %s without TLS: access keys, secrets and session credentials cross the "
            "network in clear text; give --tls-cert and --tls-key, or bind to 127.0.0.1 behind a TLS proxy",
            args.host,
        )
    if args.trusted_proxy_header:
        log.info("source addresses from %s written by %s", args.trusted_proxy_header, describe(options["trusted"]))
    if metrics_sockets:
        log.info("metrics on %s://%s:%d/metrics", scheme, *metrics_sockets[0].getsockname()[:2])
    if not api_sockets:
        return _serve(args, options, tls, runtime, metrics_sockets[0] if metrics_sockets else None, None)
    from tessera.server.workers import Supervisor

    # The workers open their own database connections: none of the parent's may be
    # shared across fork. The parent touches the store no more.
    runtime.store.close()
    status = Supervisor(args.workers, lambda slot: _worker(args, options, tls, runtime, metrics_sockets, api_sockets, slot)).run()
    log.info("stopped")
    return status


def _worker(
    args: argparse.Namespace,
    options: dict[str, Any],
    tls: CertificateReloader | None,
    runtime: Runtime,
    metrics_sockets: list[socket.socket],
    api_sockets: list[socket.socket],
    slot: int,
) -> int:
    """One of ``--workers``, just forked: it keeps its slot's sockets only, catches up
    with writes made since the parent read the store (a replacement worker starts long
    after), then serves."""
    from tessera.server import logs

    for index, sock in enumerate([*api_sockets, *metrics_sockets]):
        if index % len(api_sockets) != slot:
            sock.close()  # the parent's copy stays open for that slot's worker

    logs.configure(args.log_format, args.log_level)  # a handler of its own (no inherited flusher)
    try:
        runtime.view.poll()
    except Exception:  # the store is down: the first poll of the running worker retries
        log.exception("worker %d: refreshing the state view failed", os.getpid())
    metrics_socket = metrics_sockets[slot] if metrics_sockets else None
    return _serve(args, options, tls, runtime, metrics_socket, api_sockets[slot], worker=True)


def _serve(
    args: argparse.Namespace,
    options: dict[str, Any],
    tls: CertificateReloader | None,
    runtime: Runtime,
    metrics_socket: socket.socket | None,
    api_socket: socket.socket | None,
    *,
    worker: bool = False,
) -> int:
    """Serve until SIGTERM/SIGINT on ``api_socket`` (bound here when None)."""
    import uvicorn

    from tessera.audit.sink import AuditWriter
    from tessera.server.addresses import SourceAddress
    from tessera.server.app import TesseraApp
    from tessera.server.http import BoundedHttpProtocol, loop_factory
    from tessera.server.metrics import ServerMetrics
    from tessera.store.notify import change_watcher
    from tessera.store.sql import default_url

    audit = AuditWriter(runtime.store)
    metrics = ServerMetrics(audit_backlog=lambda: audit.backlog)
    runtime.metrics = metrics
    url = args.database_url or default_url(args.data_dir)
    interval = args.change_check_interval
    app = TesseraApp(
        runtime,
        audit=audit,
        metrics=metrics,
        poll_interval=args.poll_interval,
        access_log_enabled=not args.no_access_log,
        source_address=SourceAddress(args.trusted_proxy_header, options["trusted"]),
        metrics_port=metrics_socket.getsockname()[1] if metrics_socket else None,
        audit_retention=options["retention"],
        watch_changes=(lambda on_change: change_watcher(url, on_change, sqlite_interval=interval)) if interval > 0 else None,
        console=not args.no_console,
    )
    limits = HttpLimits(
        max_header_bytes=args.max_header_bytes,
        max_header_count=args.max_header_count,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        max_connections=args.max_connections,
        max_body_bytes=runtime.settings.max_body_bytes,
    )
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        # uvloop, its TLS handshakes held to the header deadline (uvloop's default is 60 s).
        loop=loop_factory(limits),  # type: ignore[arg-type]
        http=BoundedHttpProtocol.with_limits(limits),
        ws="none",
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=30,
        # The source address is the peer unless the operator named a trusted proxy
        # (SourceAddress above); uvicorn's own X-Forwarded-For handling stays off.
        proxy_headers=False,
        ssl_context_factory=(lambda _config, _default: tls.context) if tls is not None else None,
    )
    if api_socket is None and metrics_socket is not None:
        api_socket = config.bind_socket()
    sockets = [s for s in (api_socket, metrics_socket) if s is not None] or None
    # uvicorn shuts down gracefully on SIGTERM/SIGINT (in-flight requests finish, the
    # lifespan shutdown flushes the audit trail) and then re-raises the signal with the
    # handlers that were in place before it started: these turn it into a clean exit.
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    if tls is not None:
        reloader = tls
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, lambda signum, frame: reloader.reload())
    try:
        server: uvicorn.Server = (_graceful_server() if worker else uvicorn.Server)(config)
        server.run(sockets=sockets)
    except _Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        runtime.store.close()
    log.info("stopped")
    return 0


def _check(args: argparse.Namespace) -> dict[str, Any]:
    """Validate the optional flags (a bad value stops start-up with exit code 2)."""
    for name in ("max_header_bytes", "max_header_count", "max_connections"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be a positive number")
    if args.workers < 1:
        raise ConfigError("--workers must be a positive number")
    if not args.poll_interval > 0:
        raise ConfigError("--poll-interval must be a positive number of seconds")
    if not args.change_check_interval >= 0:
        raise ConfigError("--change-check-interval must be 0 or a positive number of seconds")
    for name in ("header_timeout", "body_timeout"):
        if not getattr(args, name) > 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be a positive number of seconds")
    trusted = LOOPBACK
    if args.trusted_proxies:
        if not args.trusted_proxy_header:
            raise ConfigError("--trusted-proxies needs --trusted-proxy-header (the header those proxies write)")
        try:
            trusted = parse_networks(args.trusted_proxies)
        except ValueError as error:
            raise ConfigError(f"--trusted-proxies: {error}") from None
    metrics = None
    if args.metrics_listen:
        host, _, port = args.metrics_listen.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"--metrics-listen must be HOST:PORT, not '{args.metrics_listen}'")
        metrics = (host.strip("[]"), int(port))
        if int(port) == args.port:  # the app tells the two listeners apart by port
            raise ConfigError("--metrics-listen needs a port of its own, not the API's --port")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together")
    retention = None
    if args.audit_retention is not None:
        from tessera.audit.retention import parse_retention

        try:
            retention = parse_retention(args.audit_retention)
        except ValueError as error:
            raise ConfigError(f"--audit-retention: {error}") from None
    return {"trusted": trusted, "metrics": metrics, "retention": retention}


def _tls(args: argparse.Namespace) -> CertificateReloader | None:
    from tessera.server.tls import CertificateReloader

    if not args.tls_cert:
        return None
    try:
        return CertificateReloader(args.tls_cert, args.tls_key)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"cannot load --tls-cert/--tls-key: {error}") from None


def _listeners(host: str, port: int, count: int, flag: str) -> list[socket.socket]:
    """``count`` listening sockets on ``host:port``: one, or one per worker of
    ``--workers``, all with ``SO_REUSEPORT`` (``server/workers.py``), bound by the parent."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if count > 1:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            if count > 1:
                sock.listen(2048)  # connections queue while the slot's worker (re)starts
                port = sock.getsockname()[1]  # port 0: the others join the port the first got
    except OSError as error:
        for sock in sockets:
            sock.close()
        raise ConfigError(f"cannot listen on {flag} {host}:{port}: {error}") from None
    return sockets


def _graceful_server() -> type[uvicorn.Server]:
    import uvicorn

    class GracefulServer(uvicorn.Server):
        """A worker's server: a terminal's Ctrl-C reaches the workers and the parent,
        which passes SIGTERM on; uvicorn would take a SIGINT after it for a second
        Ctrl-C and stop at once, dropping the audit queue. Here SIGINT is SIGTERM."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(signal.SIGTERM if sig == signal.SIGINT else sig, frame)

    return GracefulServer


class _Stopped(Exception):
    pass


def _stop(signum: int, frame: object) -> None:
    raise _Stopped()
