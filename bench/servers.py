"""Server processes under test: started pinned to one core, awaited, measured, stopped.

The load generator and the server must not share a core, or the figures measure the
scheduler. Every server here is started under ``taskset`` (which execs, so the process
id we hold is the server's own) and stopped by that id alone.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

SERVER_CORE = 0
GENERATOR_CORE = 1
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


class ServerFailed(Exception):
    """A server did not come up (its log's tail is in the message)."""


def free_port() -> int:
    """A loopback port nobody listens on right now (the tiny race is acceptable here)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(core: int | str, command: Sequence[str]) -> list[str]:
    """``command`` run on one CPU core (or the cores of a list such as ``"0,1"``)."""
    return ["taskset", "-c", str(core), *command]


@dataclass
class Server:
    """A running server process and where to reach it."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    _log: IO[bytes]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_kib(self) -> int:
        """Resident memory now (VmRSS), in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise ServerFailed(f"{self.name}: no VmRSS for pid {self.pid}")

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL if it lingers; only this process."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start(
    name: str,
    command: Sequence[str],
    *,
    port: int,
    health_path: str,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    cores: int | str = SERVER_CORE,
) -> Server:
    """Start ``command`` pinned to the server core (or ``cores``) and wait until
    ``health_path`` answers (any HTTP status counts: it proves the socket serves)."""
    log_path = log_dir / f"{name}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        pinned(cores, command),
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    server = Server(name, process, port, log_path, log)
    try:
        _await_http(server, health_path)
    except BaseException:
        server.stop()
        raise
    return server


def _await_http(server: Server, path: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    url = server.base_url + path
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerFailed(f"{server.name} exited with {server.process.returncode}: {_tail(server.log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise ServerFailed(f"{server.name} did not answer {url} within {START_TIMEOUT:.0f}s: {_tail(server.log_path)}")


def _tail(path: Path, lines: int = 15) -> str:
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])
