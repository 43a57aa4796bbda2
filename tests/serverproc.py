"""Running a real ``tessera serve`` process for end-to-end tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from pgutil import base_pg_url, fresh_pg_url

ACCOUNT_ID = "111122223333"
ROOT_KEY_ID = "AKIAROOTTESTKEY00001"
ROOT_SECRET = "rootSecretForTests0000000000000000000000"
REGION = "us-east-1"
CLIENT_CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=60)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    @classmethod
    def from_response(cls, creds: Mapping[str, Any]) -> Credentials:
        return cls(creds["AccessKeyId"], creds["SecretAccessKey"], creds.get("SessionToken"))


@dataclass
class TesseraServer:
    """A ``tessera serve`` subprocess on a free loopback port."""

    data_dir: str
    database_url: str | None = None
    account_id: str = ACCOUNT_ID
    env_extra: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log_path: str = ""
    extra_args: list[str] = field(default_factory=list)  # flags given on every start
    ca_file: str | None = None  # set when the server serves HTTPS (``extra_args`` has --tls-cert)
    log_dir: str | None = None  # where the server's output goes (default: the data directory)

    @property
    def scheme(self) -> str:
        return "https" if self.ca_file else "http"

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def ssl_context(self) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None

    @property
    def root(self) -> Credentials:
        return Credentials(ROOT_KEY_ID, ROOT_SECRET)

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            TESSERA_ACCOUNT_ID=self.account_id,
            TESSERA_ROOT_ACCESS_KEY_ID=ROOT_KEY_ID,
            TESSERA_ROOT_SECRET_ACCESS_KEY=ROOT_SECRET,
        )
        env.update(self.env_extra)
        env.update(extra or {})
        return env

    def start(self, extra_env: Mapping[str, str] | None = None, args: list[str] | None = None) -> TesseraServer:
        self.port = free_port()
        command = [
            sys.executable,
            "-m",
            "tessera",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            self.data_dir,
            "--poll-interval",
            "0.2",
        ]
        if self.database_url:
            command += ["--database-url", self.database_url]
        command += self.extra_args + (args or [])
        self.log_path = os.path.join(self.log_dir or self.data_dir, f"server-{self.port}.log")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, env=self.environment(extra_env), stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()  # a server that did not become ready in time must not outlive the test
            raise
        return self

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"tessera serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/healthz", timeout=1, context=self.ssl_context()) as response:
                    if json.load(response).get("status") == "ok":
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"tessera serve did not become ready:\n{self.log()}")

    def rss_kib(self) -> int:
        """The server process's resident memory now (VmRSS), in KiB."""
        assert self.process is not None
        with open(f"/proc/{self.process.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError(f"no VmRSS for pid {self.process.pid}")

    def log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()[-20000:]
        except OSError:
            return ""

    def stop(self) -> int:
        """SIGTERM and wait: the graceful shutdown path. A server found already gone
        (killed by a test, or dead on its own) has its exit status and the end of its
        log written to stderr, which pytest shows with a failing test's teardown: the
        log is removed with the data directory right after."""
        if self.process is None:
            return 0
        if self.process.poll() is not None:
            gone = f"tessera serve (pid {self.process.pid}) had exited with {self.process.returncode}"
            print(f"{gone}:\n{self.log()[-6000:]}", file=sys.stderr)
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.process = None
        return code

    def restart(self, extra_env: Mapping[str, str] | None = None) -> TesseraServer:
        self.stop()
        return self.start(extra_env)

    def client(self, service: str, creds: Credentials | None = None, **kwargs: Any) -> Any:
        creds = creds or self.root
        return boto3.client(
            service,
            endpoint_url=kwargs.pop("endpoint_url", self.endpoint),
            region_name=kwargs.pop("region_name", REGION),
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
            config=kwargs.pop("config", CLIENT_CONFIG),
            verify=kwargs.pop("verify", self.ca_file),
            **kwargs,
        )

    def make_user(self, name: str, policy: Mapping[str, Any] | str | None = None, *, path: str = "/") -> Credentials:
        """Create a user with an access key (and an inline policy) as root; return its keys."""
        iam = self.client("iam")
        iam.create_user(UserName=name, Path=path)
        if policy is not None:
            document = policy if isinstance(policy, str) else json.dumps(policy)
            iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=document)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def new_data_dir() -> str:
    return tempfile.mkdtemp(prefix="tessera-e2e-")


def start_server(backend: str = "sqlite", **kwargs: Any) -> tuple[TesseraServer, Callable[[], None]]:
    """A started ``tessera serve`` on ``backend`` ("sqlite", or "postgres" in a fresh schema
    of the test PostgreSQL server) and the function that stops it and removes its data."""
    data_dir = new_data_dir()
    url = None

    def drop() -> None:
        pass

    if backend == "postgres":
        url, drop = fresh_pg_url(base_pg_url())
    server = TesseraServer(data_dir=data_dir, database_url=url, **kwargs)
    try:
        server.start()
    except Exception:
        drop()
        raise

    def cleanup() -> None:
        server.stop()
        drop()
        shutil.rmtree(data_dir, ignore_errors=True)

    return server, cleanup


def server_factory() -> Iterator[Callable[..., TesseraServer]]:
    """For a function-scoped fixture (``yield from server_factory()``): a factory of started
    servers (``factory(backend="sqlite", **kwargs)``), each stopped and removed afterwards."""
    cleanups: list[Callable[[], None]] = []

    def factory(backend: str = "sqlite", **kwargs: Any) -> TesseraServer:
        srv, cleanup = start_server(backend, **kwargs)
        cleanups.append(cleanup)
        return srv

    yield factory
    for cleanup in reversed(cleanups):
        cleanup()
